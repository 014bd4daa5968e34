package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSgemvBlocks checks that SgemvBlocks on BlockColumns' layout gives
// Sgemm's bits on the row-major matrix, on every kernel, for K within
// one block and past several, and widths of one partial block, whole
// blocks and a partial last one.
func TestSgemvBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, kern := range kernels {
		restore, _ := setKernel(kern.name)
		for _, sh := range []struct{ k, n int }{{7, 5}, {512, 1000}, {300, 256}, {1, 129}, {700, 130}} {
			x, w := randSlice(rng, sh.k), randSlice(rng, sh.k*sh.n)
			want := make([]float32, sh.n)
			if err := Sgemm(false, false, 1, sh.n, sh.k, 1, x, sh.k, w, sh.n, 0, want, sh.n); err != nil {
				t.Fatal(err)
			}
			got := randSlice(rng, sh.n)
			if err := SgemvBlocks(sh.k, sh.n, x, BlockColumns(w, sh.k, sh.n), got); err != nil {
				t.Fatal(err)
			}
			compareExact(t, fmt.Sprintf("%s k=%d n=%d", kern.name, sh.k, sh.n), got, want)
		}
		restore()
	}
	if err := SgemvBlocks(4, 4, make([]float32, 3), make([]float32, 16), make([]float32, 4)); err == nil {
		t.Fatal("a short x was accepted")
	}
}
