//go:build amd64

package bitpack

import "golang.org/x/sys/cpu"

var cpuHasAVX512 = cpu.X86.HasAVX512F

// codesAVX512 writes the codes of the first n&^15 values (see inputCodes).
//
//go:noescape
func codesAVX512(dst *uint8, src *float32, n int, mul, lo, hi float32, off int32)

// fma4x64 computes a 4×64 float tile (see floatGEMM and float_amd64.s).
//
//go:noescape
func fma4x64(a0, a1, a2, a3, w *float32, k int, out *float32, ldo, acc int)

// scaleBiasAVX512 is scaleBias's row loop for the first n&^7 values.
//
//go:noescape
func scaleBiasAVX512(y *float32, acc *int32, scale *float64, bias *float32, n int)
