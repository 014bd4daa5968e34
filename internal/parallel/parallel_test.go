package parallel

import (
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
