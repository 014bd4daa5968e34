//go:build !amd64

package vec

func quantLinearAVX512(y, x *float32, n int, mul, lo, hi, num, den float32)   {}
func pactGradAVX512(dx, grad, x *float32, n int, a float32, acc *[16]float64) {}
func noisyLevelsAVX512(out, grad, u *float32, n int, inv, l, m2 float32)      {}
func tanhLevelsAVX512(y, u *float32, n int, m2, l float32)                    {}
func tanhGradAVX512(dst, grad, u *float32, n int, m float32)                  {}
func tanhRationalAVX512(u, w *float32, n int)                                 {}
