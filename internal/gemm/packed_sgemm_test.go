package gemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSgemmPacked checks that a matrix packed once by PackWeights gives
// Sgemm's bits (B transposed, the pointwise conv's product) on every
// kernel and thread count: K within one cache block and over several, n
// not a multiple of the panel width, few rows (A read in place) and many,
// lda past k; and after the kernel changes under the PackedB.
func TestSgemmPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	shapes := []struct{ m, n, k, lda int }{
		{784, 128, 64, 64},  // Bi-Real-18's 28×28 shortcut
		{49, 512, 256, 256}, // its 7×7 one
		{20, 40, 300, 310},  // K over two blocks, lda > k
		{5, 100, 33, 33},    // few rows
		{300, 17, 129, 129}, // one partial panel
		{1, 1000, 512, 512}, // one row
	}
	defer SetThreads(Threads())
	for _, kern := range kernels {
		for _, threads := range []int{1, 2} {
			for _, sh := range shapes {
				t.Run(fmt.Sprintf("%s/t%d/%+v", kern.name, threads, sh), func(t *testing.T) {
					restore, _ := setKernel(kern.name)
					defer restore()
					SetThreads(threads)
					a, w := randSlice(rng, (sh.m-1)*sh.lda+sh.k), randSlice(rng, sh.n*sh.k)
					want, got := make([]float32, sh.m*sh.n), randSlice(rng, sh.m*sh.n)
					if err := Sgemm(false, true, sh.m, sh.n, sh.k, 1, a, sh.lda, w, sh.k, 0, want, sh.n); err != nil {
						t.Fatal(err)
					}
					pb, err := PackWeights(w, sh.n, sh.k)
					if err != nil {
						t.Fatal(err)
					}
					if err := SgemmPacked(sh.m, a, sh.lda, pb, got, sh.n); err != nil {
						t.Fatal(err)
					}
					compareExact(t, "packed", got, want)
					withOtherKernel(kern, func() {
						if err := Sgemm(false, true, sh.m, sh.n, sh.k, 1, a, sh.lda, w, sh.k, 0, want, sh.n); err != nil {
							t.Fatal(err)
						}
						if err := SgemmPacked(sh.m, a, sh.lda, pb, got, sh.n); err != nil {
							t.Fatal(err)
						}
					})
					compareExact(t, "packed for another kernel", got, want)
				})
			}
		}
	}
}

func TestSgemmPackedErrors(t *testing.T) {
	for _, tc := range []struct {
		w    []float32
		n, k int
	}{{nil, 0, 3}, {make([]float32, 5), 2, 3}, {make([]float32, 6), 2, -1}} {
		if _, err := PackWeights(tc.w, tc.n, tc.k); !errors.Is(err, ErrShape) {
			t.Errorf("PackWeights(len %d, %d, %d) = %v, want ErrShape", len(tc.w), tc.n, tc.k, err)
		}
	}
	pb, err := PackWeights(make([]float32, 64*30), 64, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		m, lda, ldc int
		a, c        []float32
	}{
		{"short A", 4, 30, 64, make([]float32, 3*30), make([]float32, 4*64)},
		{"lda below k", 4, 20, 64, make([]float32, 4*30), make([]float32, 4*64)},
		{"short C", 4, 30, 64, make([]float32, 4*30), make([]float32, 3*64)},
		{"negative m", -1, 30, 64, nil, nil},
	} {
		if err := SgemmPacked(tc.m, tc.a, tc.lda, pb, tc.c, tc.ldc); !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v, want ErrShape", tc.name, err)
		}
	}
}
