package gemm

import (
	"os"
	"sync/atomic"
)

//go:generate go run gen_kernels.go

// microKernel computes one mr×nr tile of C from packed micro-panels:
//
//	C[r*ldc+j] = alpha * Σ_p a[p*mr+r]*b[p*nr+j] + beta*C[r*ldc+j]
//
// a holds k*mr floats, b holds k*nr floats and c covers (mr-1)*ldc+nr
// floats. beta == 0 must not read C, so NaNs in C never leak through.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(k int, a, b, c []float32, ldc int, alpha, beta float32)

	// gen, if set, is the general form of fn: it computes a partial tile
	// in place (only rows×cols of C are read or written) and reads A and B
	// through strides, so either may be the caller's matrix rather than a
	// packed panel. Step p of tile row r reads a[p*aP+r] when lda == 0 and
	// a[p*aP+r*lda] otherwise (all mr rows must exist); step p of the tile
	// reads b[p*bP : p*bP+cols].
	gen func(k int, a []float32, lda, aP int, b []float32, bP int, c []float32, ldc int, alpha, beta float32, rows, cols int)

	// genRows, if set, is gen over segs segments of k steps in one
	// accumulation chain: segment s's step p of tile row r reads
	// a[s*segStride + p*aP + r*lda] (lda > 0) and b[(s*k+p)*bP:]. A
	// direct convolution passes its KH kernel rows as the segments.
	genRows func(k, segs, segStride int, a []float32, lda, aP int, b []float32, bP int, c []float32, ldc int, alpha, beta float32, rows, cols int)

	// gemv, if set, computes one row of C, cols (1..gemvCols) columns,
	// from B read in place (step p at b[p*bP:]) and A's step p at
	// a[p*aP], giving gen's bits: the m = 1 product (a classifier at
	// batch 1).
	gemv func(k int, a []float32, aP int, b []float32, bP int, c []float32, alpha, beta float32, cols int)
}

// gemvCols is the widest microKernel.gemv call.
const gemvCols = 128

// kernels lists the micro-kernels this CPU can run, best first; generic is
// always last. Filled at init and never changed afterwards.
var kernels []*microKernel

// active is the micro-kernel Sgemm uses. It is chosen once at init
// (LOWBIT_NOASM=1 forces the generic kernel); tests switch it with
// setKernel to cover every path in one run.
var active atomic.Pointer[microKernel]

func init() {
	kernels = append(archKernels(), genericKernel)
	k := kernels[0]
	if os.Getenv("LOWBIT_NOASM") == "1" {
		k = genericKernel
	}
	active.Store(k)
}

// Kernel reports the micro-kernel in use: "avx512", "avx2", or "generic".
func Kernel() string { return active.Load().name }

// setKernel selects the micro-kernel by name and returns a function that
// restores the previous one. It reports false when the CPU lacks it.
// Selecting a kernel also turns off routing to OpenBLAS until restore, so
// the kernel asked for is the one that runs. Only tests and benchmarks use it.
func setKernel(name string) (restore func(), ok bool) {
	for _, k := range kernels {
		if k.name == name {
			prev, prevBLAS := active.Swap(k), useBLAS.Swap(false)
			return func() { active.Store(prev); useBLAS.Store(prevBLAS) }, true
		}
	}
	return func() {}, false
}
