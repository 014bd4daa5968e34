//go:build openblas

package gemm

import "os"

// In builds tagged openblas, Sgemm (and so every training layer) runs on
// single-threaded OpenBLAS unless LOWBIT_OPENBLAS=0 keeps our kernels.
func init() {
	useBLAS.Store(os.Getenv("LOWBIT_OPENBLAS") != "0")
}
