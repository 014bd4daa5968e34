package gemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestConvForwardRows checks that ConvForwardRows gives ConvForward's
// bits at 1–3 threads, that its ranges start at multiples of step, are
// disjoint and cover every output row once, and that a range's rows are
// final when done is called; and that a shape the direct path does not
// take computes nothing and says so.
func TestConvForwardRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	cases := []struct {
		s    ConvShape
		o    int
		step int
	}{
		{ConvShape{N: 1, H: 30, W: 29, C: 3, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, 64, 2},
		{ConvShape{N: 3, H: 9, W: 9, C: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 40, 2},
		{ConvShape{N: 2, H: 11, W: 7, C: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 16, 3},
		{ConvShape{N: 1, H: 4, W: 4, C: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 8, 1},
	}
	defer SetThreads(Threads())
	for _, c := range cases {
		s, o := c.s, c.o
		oh, ow := s.OutH(), s.OutW()
		x, w := randSlice(rng, s.InputLen()), randSlice(rng, o*s.KH*s.KW*s.C)
		want := make([]float32, s.N*oh*ow*o)
		if err := ConvForward(s, x, w, o, want); err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2, 3} {
			SetThreads(threads)
			name := fmt.Sprintf("%+v o=%d step %d threads %d", s, o, c.step, threads)
			got := randSlice(rng, len(want))
			var mu sync.Mutex
			seen := make([]int, s.N*oh)
			var bad []string
			err := ConvForwardRows(s, x, w, o, got, c.step, func(n, y0, y1 int) {
				rows := slices.Clone(got[(n*oh+y0)*ow*o : (n*oh+y1)*ow*o])
				mu.Lock()
				defer mu.Unlock()
				if y0%c.step != 0 || y0 >= y1 || y1 > oh {
					bad = append(bad, fmt.Sprintf("range %d..%d of image %d", y0, y1, n))
				}
				for y := y0; y < y1; y++ {
					seen[n*oh+y]++
				}
				if !slices.Equal(rows, want[(n*oh+y0)*ow*o:(n*oh+y1)*ow*o]) {
					bad = append(bad, fmt.Sprintf("image %d rows %d..%d not final when done ran", n, y0, y1))
				}
			})
			if errors.Is(err, ErrNotDirect) {
				if directOK(active.Load(), s, o) {
					t.Fatalf("%s: ErrNotDirect for a direct shape", name)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(bad) > 0 {
				t.Fatalf("%s: %v", name, bad)
			}
			for i, k := range seen {
				if k != 1 {
					t.Fatalf("%s: row %d of image %d reported %d times", name, i%oh, i/oh, k)
				}
			}
			compareExact(t, name, got, want)
		}
	}
	big := ConvShape{N: 1, H: 8, W: 8, C: 512, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	out := make([]float32, 64*512)
	err := ConvForwardRows(big, make([]float32, big.InputLen()), make([]float32, 512*9*512), 512, out, 2, func(int, int, int) {
		t.Error("done called for a shape the direct path does not take")
	})
	if !errors.Is(err, ErrNotDirect) {
		t.Fatalf("512→512 3×3 filter: err = %v, want ErrNotDirect", err)
	}
}
