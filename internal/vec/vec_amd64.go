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

//go:noescape
func reluAVX512(y, x *float32, n int)

//go:noescape
func clipAVX512(y, x *float32, n int, lo, hi float32)

//go:noescape
func keepInsideAVX512(dst, grad, x *float32, n int, lo, hi float32)

//go:noescape
func scaleShiftAVX512(y, x, a, b *float32, rows, c int)

//go:noescape
func channelSumsAVX512(d1, d2, x, shift *float32, rows, c int)

//go:noescape
func channelGradSumsAVX512(d1, d2, grad, x, mean, invstd *float32, rows, c int)

//go:noescape
func bnBackwardAVX512(dx, grad, x *float32, p *bnParams, rows, c int)

//go:noescape
func adamAVX512(data, grad, m, v *float32, n int, p *AdamParams)
