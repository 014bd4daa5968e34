package gemm

import "sync/atomic"

// useBLAS routes Sgemm, after its argument checks, to OpenBLAS instead of
// our kernels. Builds tagged openblas turn it on at init (route_openblas.go),
// so the training layers run on OpenBLAS for comparison; otherwise it stays
// off and OpenBLAS is nil.
var useBLAS atomic.Bool

// UseOpenBLAS makes Sgemm compute through OpenBLAS (on) or through our own
// kernels (off), and returns a function restoring the previous choice. It
// reports false, and changes nothing, when on is set in a build without
// OpenBLAS (no -tags openblas). Benchmarks use it to time both paths in one
// process; it must not be flipped while Sgemm calls are in flight.
func UseOpenBLAS(on bool) (restore func(), ok bool) {
	if on && OpenBLAS == nil {
		return func() {}, false
	}
	prev := useBLAS.Swap(on)
	return func() { useBLAS.Store(prev) }, true
}

// UsingOpenBLAS reports whether Sgemm currently routes to OpenBLAS.
func UsingOpenBLAS() bool { return useBLAS.Load() }
