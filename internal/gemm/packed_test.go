package gemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestConvForwardPacked checks that a filter packed once gives
// ConvForward's bits, for filters the driver packs (K over several cache
// blocks, o not a multiple of the panel width) and ones the direct path
// takes (packed once too, split in bands at 2 threads), on every kernel
// and thread count, and after the kernel changes under a PackedB.
func TestConvForwardPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	shapes := []struct {
		s ConvShape
		o int
	}{
		{ConvShape{N: 1, H: 7, W: 7, C: 96, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 100}, // K = 864: 4 blocks
		{ConvShape{N: 2, H: 6, W: 5, C: 40, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, 200},
		{ConvShape{N: 1, H: 9, W: 9, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 16},   // direct
		{ConvShape{N: 1, H: 12, W: 12, C: 40, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, 50}, // direct, K = 360 past a cache block, o not a panel multiple
		{ConvShape{N: 3, H: 5, W: 6, C: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 0, PadW: 1}, 24},    // direct, several images, too small to split
	}
	defer SetThreads(Threads())
	for _, kern := range kernels {
		for _, threads := range []int{1, 2} {
			for _, sh := range shapes {
				t.Run(fmt.Sprintf("%s/t%d/%+v/o%d", kern.name, threads, sh.s, sh.o), func(t *testing.T) {
					restore, _ := setKernel(kern.name)
					defer restore()
					SetThreads(threads)
					s, o := sh.s, sh.o
					m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
					x, w := randSlice(rng, s.InputLen()), randSlice(rng, o*k)
					want, got := make([]float32, m*o), randSlice(rng, m*o)
					if err := ConvForward(s, x, w, o, want); err != nil {
						t.Fatal(err)
					}
					pb, err := PackConvWeights(w, o, k)
					if err != nil {
						t.Fatal(err)
					}
					if err := ConvForwardPacked(s, x, pb, got); err != nil {
						t.Fatal(err)
					}
					compareExact(t, "packed", got, want)
					// Another kernel than the one it was packed for: falls back.
					withOtherKernel(kern, func() {
						if err := ConvForward(s, x, w, o, want); err != nil {
							t.Fatal(err)
						}
						if err := ConvForwardPacked(s, x, pb, got); err != nil {
							t.Fatal(err)
						}
					})
					compareExact(t, "packed for another kernel", got, want)
				})
			}
		}
	}
}

// withOtherKernel runs f with a micro-kernel other than kern active (the
// generic one, or the best when kern is the generic one).
func withOtherKernel(kern *microKernel, f func()) {
	other := genericKernel
	if kern == genericKernel {
		other = kernels[0]
	}
	restore, _ := setKernel(other.name)
	defer restore()
	f()
}

func TestPackConvWeightsErrors(t *testing.T) {
	for _, tc := range []struct {
		w    []float32
		o, k int
	}{{nil, 0, 3}, {make([]float32, 5), 2, 3}, {make([]float32, 6), 2, -1}} {
		if _, err := PackConvWeights(tc.w, tc.o, tc.k); !errors.Is(err, ErrShape) {
			t.Errorf("PackConvWeights(len %d, %d, %d) = %v, want ErrShape", len(tc.w), tc.o, tc.k, err)
		}
	}
	pb, err := PackConvWeights(make([]float32, 64*600), 64, 600)
	if err != nil {
		t.Fatal(err)
	}
	s := ConvShape{N: 1, H: 4, W: 4, C: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1} // K = 72, not 600
	if err := ConvForwardPacked(s, make([]float32, s.InputLen()), pb, make([]float32, 16*64)); !errors.Is(err, ErrShape) {
		t.Errorf("a shape whose K is not the filter's: %v, want ErrShape", err)
	}
}

// TestSgemmPackedDirectFilter: a filter PackConvWeights packed for the
// direct convolution (all of K in one block) is not in the driver's
// panels, so SgemmPacked runs plain Sgemm on it: the same bits.
func TestSgemmPackedDirectFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	const m, o, k = 9, 70, 300 // K past one cache block, several panels: the layouts differ
	w, a := randSlice(rng, o*k), randSlice(rng, m*k)
	pb, err := PackConvWeights(w, o, k)
	if err != nil {
		t.Fatal(err)
	}
	want, got := make([]float32, m*o), randSlice(rng, m*o)
	if err := Sgemm(false, true, m, o, k, 1, a, k, w, k, 0, want, o); err != nil {
		t.Fatal(err)
	}
	if err := SgemmPacked(m, a, k, pb, got, o); err != nil {
		t.Fatal(err)
	}
	compareExact(t, "SgemmPacked on a direct filter", got, want)
}
