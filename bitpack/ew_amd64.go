//go:build amd64

package bitpack

import "golang.org/x/sys/cpu"

// cpuHasEW says the CPU runs the elementwise row kernels of ew_amd64.s
// (AVX-512F, and DQ for VRANGEPS).
var cpuHasEW = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

//go:noescape
func bnRowAVX(y, a, b *float32, n int)

//go:noescape
func hardTanhRowAVX(y *float32, n int)

//go:noescape
func reluRowAVX(y *float32, n int)

//go:noescape
func addRowAVX(y, r *float32, n int)

//go:noescape
func addInt32RowAVX(y, r *int32, n int)

//go:noescape
func maxRowAVX(y, r *float32, n int)

//go:noescape
func xnorOutRowAVX(y *float32, acc *int32, scale, bias *float32, n int)

//go:noescape
func packSignsAVX(dst *uint64, x *float32, words int)

//go:noescape
func epiRowAVX(y *float32, acc *int32, p *epiRow, n, rows, ld int)

//go:noescape
func bnActRowAVX(dst, src, a, b *float32, n, act, maxInto, pix, sst, dst_, kw, cst int)
