package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSgemmBlocks checks that SgemmBlocks on BlockColumns' layout gives
// Sgemm's bits on the row-major matrix, on every kernel, for one row and
// several, K within one block and past several, and widths of one
// partial block, whole blocks and a partial last one.
func TestSgemmBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, kern := range kernels {
		restore, _ := setKernel(kern.name)
		for _, sh := range []struct{ m, k, n int }{{1, 7, 5}, {1, 512, 1000}, {1, 300, 256}, {1, 1, 129}, {1, 700, 130}, {4, 300, 260}, {9, 5, 3}} {
			x, w := randSlice(rng, sh.m*sh.k), randSlice(rng, sh.k*sh.n)
			want := make([]float32, sh.m*sh.n)
			if err := Sgemm(false, false, sh.m, sh.n, sh.k, 1, x, sh.k, w, sh.n, 0, want, sh.n); err != nil {
				t.Fatal(err)
			}
			got := randSlice(rng, sh.m*sh.n)
			if err := SgemmBlocks(sh.m, sh.k, sh.n, x, BlockColumns(w, sh.k, sh.n), got); err != nil {
				t.Fatal(err)
			}
			compareExact(t, fmt.Sprintf("%s m=%d k=%d n=%d", kern.name, sh.m, sh.k, sh.n), got, want)
		}
		restore()
	}
	if err := SgemmBlocks(1, 4, 4, make([]float32, 3), make([]float32, 16), make([]float32, 4)); err == nil {
		t.Fatal("a short x was accepted")
	}
}
