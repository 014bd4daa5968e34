package parallel

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestRowsCoversEachRowOnce(t *testing.T) {
	for _, tc := range []struct{ n, width int }{{0, 1}, {1, 1}, {7, 1}, {1000, 1}, {1 << 16, 1}, {100003, 3}, {3, 1 << 20}} {
		hits := make([]int32, tc.n)
		var maxPart atomic.Int32
		parts := Rows(tc.n, tc.width, func(part, lo, hi int) {
			if int32(part) > maxPart.Load() {
				maxPart.Store(int32(part))
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d width=%d: row %d visited %d times", tc.n, tc.width, i, h)
			}
		}
		if int(maxPart.Load()) >= parts {
			t.Errorf("n=%d: part %d of %d", tc.n, maxPart.Load(), parts)
		}
		if tc.n*tc.width < MinWork && parts != 1 {
			t.Errorf("n=%d width=%d: small work split into %d parts", tc.n, tc.width, parts)
		}
	}
}

// TestRowsChunksIgnoreCores: the chunks depend on the work only, so partial
// sums reduced in chunk order are the same on any number of cores.
func TestRowsChunksIgnoreCores(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, n := range []int{1 << 15, 100003, 1 << 20} {
		var want []int
		for _, procs := range []int{1, 2, 3, 16} {
			runtime.GOMAXPROCS(procs)
			got := make([]int, MaxParts)
			parts := Rows(n, 1, func(part, lo, hi int) { got[part] = hi - lo })
			got = got[:parts]
			if want == nil {
				want = got
			} else if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("n=%d: %d cores give chunks %v, 1 core %v", n, procs, got, want)
			}
		}
	}
}
