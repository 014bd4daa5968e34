//go:build !amd64

package vec

// Without assembly useAsm is always false and these are never called.
const hasAVX512 = false

func quantClipAVX512(y, x *float32, n int, inv, s, lo, hi float32)                     {}
func lsqGradAVX512(dx, grad, x *float32, n int, inv, lo, hi float32, acc *[16]float64) {}
func signAVX512(y, x *float32, n int)                                                  {}
func keepAbsLEAVX512(dst, grad, x *float32, n int, c float32)                          {}
