//go:build !amd64

package vec

// Without assembly useAsm is always false and these are never called.
const hasAVX512 = false

func quantClipAVX512(y, x *float32, n int, inv, s, lo, hi float32)                     {}
func lsqGradAVX512(dx, grad, x *float32, n int, inv, lo, hi float32, acc *[16]float64) {}
func signAVX512(y, x *float32, n int)                                                  {}
func keepAbsLEAVX512(dst, grad, x *float32, n int, c float32)                          {}

func reluAVX512(y, x *float32, n int)                                           {}
func clipAVX512(y, x *float32, n int, lo, hi float32)                           {}
func keepInsideAVX512(dst, grad, x *float32, n int, lo, hi float32)             {}
func scaleShiftAVX512(y, x, a, b *float32, rows, c int)                         {}
func channelSumsAVX512(d1, d2, x, shift *float32, rows, c int)                  {}
func channelGradSumsAVX512(d1, d2, grad, x, mean, invstd *float32, rows, c int) {}
func bnBackwardAVX512(dx, grad, x *float32, p *bnParams, rows, c int)           {}
func adamAVX512(data, grad, m, v *float32, n int, p *AdamParams)                {}
