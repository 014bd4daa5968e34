//go:build !amd64

package bitpack

const cpuHasAVX512 = false

func codesAVX512(dst *uint8, src *float32, n int, mul, lo, hi float32, off int32) {
	panic("unreachable")
}

func fma4x64(a0, a1, a2, a3, w *float32, k int, out *float32, ldo, acc int) {
	panic("unreachable")
}

func scaleBiasAVX512(y *float32, acc *int32, scale *float64, bias *float32, n int) {
	panic("unreachable")
}
