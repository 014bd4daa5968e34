//go:build openblas

package gemm

import "github.com/lowbit/lowbit/internal/gemm/internal/cblas"

// OpenBLAS is cblas_sgemm from the system OpenBLAS, single-threaded, for
// comparison in benchmarks. Arguments follow Sgemm and must be valid: it
// does no checks.
var OpenBLAS func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) = cblas.Sgemm

// OpenBLASCore is the kernel OpenBLAS runs on (openblas_get_corename), for
// reports: OPENBLAS_CORETYPE, read when the library loads, can force one.
var OpenBLASCore func() string = cblas.CoreName

func init() {
	// Compare kernels core for core: one OpenBLAS thread unless a
	// benchmark asks for more.
	cblas.SetNumThreads(1)
	openBLASThreads = cblas.SetNumThreads
}

// openBLASThreads sets OpenBLAS's thread count; benchmarks use it.
var openBLASThreads func(n int)
