//go:build amd64

package bitpack

import "golang.org/x/sys/cpu"

var cpuHasAVX512 = cpu.X86.HasAVX512F

// codesAVX512 writes the codes of the first n&^15 values (see inputCodes).
//
//go:noescape
func codesAVX512(dst *uint8, src *float32, n int, mul, lo, hi float32, off int32)

// scaleBiasAVX512 is scaleBias's row loop for the first n&^7 values.
//
//go:noescape
func scaleBiasAVX512(y *float32, acc *int32, scale *float64, bias *float32, n int)
