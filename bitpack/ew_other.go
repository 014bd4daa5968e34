//go:build !amd64

package bitpack

const cpuHasEW = false

// The assembly row kernels exist only on amd64; these are never called.

func bnRowAVX(y, a, b *float32, n int)                                  { panic("unreachable") }
func hardTanhRowAVX(y *float32, n int)                                  { panic("unreachable") }
func reluRowAVX(y *float32, n int)                                      { panic("unreachable") }
func addRowAVX(y, r *float32, n int)                                    { panic("unreachable") }
func addInt32RowAVX(y, r *int32, n int)                                 { panic("unreachable") }
func maxRowAVX(y, r *float32, n int)                                    { panic("unreachable") }
func xnorOutRowAVX(y *float32, acc *int32, scale, bias *float32, n int) { panic("unreachable") }
func packSignsAVX(dst *uint64, x *float32, words int)                   { panic("unreachable") }

func epiRowAVX(y *float32, acc *int32, p *epiRow, n, rows, ld int) { panic("unreachable") }
func bnActRowAVX(dst, src, a, b *float32, n, act, maxInto, pix, sst, dst_, kw, cst int) {
	panic("unreachable")
}
