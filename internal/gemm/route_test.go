package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestUseOpenBLAS checks the routing switch: in openblas builds Sgemm runs
// on OpenBLAS by default and still matches the naive product; without the
// tag the switch refuses to turn on.
func TestUseOpenBLAS(t *testing.T) {
	if OpenBLAS == nil {
		if UsingOpenBLAS() {
			t.Fatal("routing to OpenBLAS in a build without it")
		}
		restore, ok := UseOpenBLAS(true)
		defer restore()
		if ok || UsingOpenBLAS() {
			t.Fatal("UseOpenBLAS(true) succeeded without -tags openblas")
		}
		return
	}
	if !UsingOpenBLAS() {
		t.Skip("LOWBIT_OPENBLAS=0: Sgemm keeps our kernels")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const m, n, k = 33, 47, 29
	a, b := randSlice(rng, m*k), randSlice(rng, n*k)
	for _, routed := range []bool{true, false} {
		restore, ok := UseOpenBLAS(routed)
		if !ok {
			t.Fatal("UseOpenBLAS refused in an openblas build")
		}
		got, want := randSlice(rng, m*n), make([]float32, m*n)
		copy(want, got)
		if err := Sgemm(false, true, m, n, k, 1, a, k, b, k, 0.5, got, n); err != nil {
			t.Fatal(err)
		}
		naiveSgemm(false, true, m, n, k, 1, a, k, b, k, 0.5, want, n)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-3 {
				t.Fatalf("routed=%v: C[%d] = %v, want %v", routed, i, got[i], want[i])
			}
		}
		restore()
	}
	// Choosing a kernel by name runs that kernel, not OpenBLAS.
	restore, _ := setKernel("generic")
	if UsingOpenBLAS() {
		t.Error("setKernel left routing to OpenBLAS on")
	}
	restore()
	if !UsingOpenBLAS() {
		t.Error("setKernel's restore did not restore routing")
	}
}

// TestBLASParallel: the blocks of C that blasParallel hands to OpenBLAS
// cover it exactly, for every transpose, tall and wide C, padded strides.
func TestBLASParallel(t *testing.T) {
	if OpenBLAS == nil {
		t.Skip("no OpenBLAS in this build (-tags openblas)")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for _, sh := range [][3]int{{301, 40, 200}, {40, 301, 200}, {7, 5, 3}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				lda, ldb, ldc := k+3, n+2, n+5
				if ta {
					lda = m + 3
				}
				if tb {
					ldb = k + 2
				}
				a, b := randSlice(rng, max(m, k)*lda), randSlice(rng, max(n, k)*ldb)
				got := randSlice(rng, m*ldc)
				want := append([]float32(nil), got...)
				blasParallel(3, ta, tb, m, n, k, 1.5, a, lda, b, ldb, 0.5, got, ldc)
				naiveSgemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, 0.5, want, ldc)
				for i := range want {
					if math.Abs(float64(got[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%v transA=%v transB=%v: C[%d] = %v, want %v", sh, ta, tb, i, got[i], want[i])
					}
				}
			}
		}
	}
}
