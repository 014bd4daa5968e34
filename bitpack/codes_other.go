//go:build !amd64

package bitpack

const cpuHasAVX512 = false

func codesAVX512(dst *uint8, src *float32, n int, mul, lo, hi float32, off int32) {
	panic("unreachable")
}

func scaleBiasAVX512(y *float32, acc *int32, scale *float64, bias *float32, n int) {
	panic("unreachable")
}
