package vec

import "golang.org/x/sys/cpu"

// x/sys/cpu folds the OS's saving of the wide registers into the flag.
var hasAVX512 = cpu.X86.HasAVX512F

//go:noescape
func quantClipAVX512(y, x *float32, n int, inv, s, lo, hi float32)

//go:noescape
func lsqGradAVX512(dx, grad, x *float32, n int, inv, lo, hi float32, acc *[16]float64)

//go:noescape
func signAVX512(y, x *float32, n int)

//go:noescape
func keepAbsLEAVX512(dst, grad, x *float32, n int, c float32)
