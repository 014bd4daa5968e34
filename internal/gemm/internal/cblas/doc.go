// Package cblas binds cblas_sgemm from the system OpenBLAS in builds
// tagged openblas (cgo, -lopenblas); otherwise it is empty. It is separate
// from gemm because a cgo package cannot hold Go assembly.
package cblas
