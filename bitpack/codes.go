package bitpack

// inputCodes writes q's unsigned input codes of x into c (len(c) >= len(x)),
// 16 values at a time with AVX-512 where the assembly kernels are on:
// bit-identical to q.Codes, which computes the rest.
func inputCodes(q InputQuant, c []uint8, x []float32) {
	c = c[:len(x)]
	n := 0
	if kernels.popcnt && cpuHasAVX512 && len(x) >= 16 {
		n = len(x) &^ 15
		codesAVX512(&c[0], &x[0], n, q.Mul, q.Lo, q.Hi, int32(q.Offset()))
	}
	q.Codes(c[n:], x[n:])
}
