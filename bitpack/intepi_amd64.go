//go:build amd64

package bitpack

// intEpiRowAVX is rows rows of the fused integer epilogue (intepi_amd64.s).
//
//go:noescape
func intEpiRowAVX(y *float32, acc *int32, p *intEpi, n, rows, ld, noY int)
