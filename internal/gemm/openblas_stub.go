//go:build !openblas

package gemm

// OpenBLAS is cblas_sgemm in builds tagged openblas, for comparison in
// benchmarks; it is nil otherwise.
var OpenBLAS func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// openBLASThreads sets OpenBLAS's thread count in openblas builds.
var openBLASThreads func(n int)

// OpenBLASCore is the kernel OpenBLAS runs on, in builds tagged openblas;
// nil otherwise.
var OpenBLASCore func() string
