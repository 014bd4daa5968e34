//go:build openblas

package cblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "unsafe"

// SetNumThreads sets OpenBLAS's thread count.
func SetNumThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Sgemm is cblas_sgemm in row-major order. Arguments follow gemm.Sgemm and
// must already be valid: it does no checks.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans), C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	var ap, bp *float32
	if len(a) > 0 {
		ap = &a[0]
	}
	if len(b) > 0 {
		bp = &b[0]
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb,
		C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(ap)), C.blasint(lda),
		(*C.float)(unsafe.Pointer(bp)), C.blasint(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// CoreName is openblas_get_corename(): the kernel OpenBLAS picked (or was
// forced to by OPENBLAS_CORETYPE when it loaded).
func CoreName() string { return C.GoString(C.openblas_get_corename()) }
