//go:build !amd64

package bitpack

func intEpiRowAVX(y *float32, acc *int32, p *intEpi, n, rows, ld, noY int) { panic("unreachable") }
