package gemm

import (
	"os"

	"golang.org/x/sys/cpu"
)

//go:noescape
func copyPanelsAVX512(d, src *float32, n, ld, ldd int, masks uint64)

// packVector reports whether packRowsContig and packConvB copy through
// copyPanelsAVX512. Go's compiler turns the [8] to [32]float32 copies
// of the scalar path into memmove calls, a call per panel row. Tests
// switch it off to cover the scalar path.
var packVector = cpu.X86.HasAVX512F && os.Getenv("LOWBIT_NOASM") != "1"

// copyPanels copies n runs of cnt floats (cnt <= w <= 32), run i from
// src[i*ld:] to d[i*ldd:], zero-filling each destination run from cnt to
// w. The last source run need only hold cnt floats and the last
// destination run w.
func copyPanels(d, src []float32, n, ld, ldd, cnt, w int) {
	_ = src[(n-1)*ld+cnt-1]
	_ = d[(n-1)*ldd+w-1]
	load, store := uint64(1)<<cnt-1, uint64(1)<<w-1
	masks := load&0xffff | load>>16<<16 | (store&0xffff)<<32 | store>>16<<48
	copyPanelsAVX512(&d[0], &src[0], n, 4*ld, 4*ldd, masks)
}

// zeroPanels zeroes n runs of w floats (w <= 32), run i at d[i*ldd:].
func zeroPanels(d []float32, n, ldd, w int) {
	_ = d[(n-1)*ldd+w-1]
	store := uint64(1)<<w - 1
	copyPanelsAVX512(&d[0], &d[0], n, 0, 4*ldd, (store&0xffff)<<32|store>>16<<48)
}
