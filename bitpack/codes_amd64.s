#include "textflag.h"

// func codesAVX512(dst *uint8, src *float32, n int, mul, lo, hi float32, off int32)
// dst[i] = uint8(int32(round(clip(src[i]·mul, lo, hi))) + off) for the
// first n&^15 values, with qfunc.ClipRound's operations: one float32
// multiply, max then min (a NaN stays NaN), +1.5·2^23 −1.5·2^23, a
// truncating conversion and a truncating byte store.
TEXT ·codesAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mul+24(FP), Z1
	VBROADCASTSS lo+28(FP), Z2
	VBROADCASTSS hi+32(FP), Z3
	MOVL off+36(FP), AX
	VPBROADCASTD AX, Z4
	MOVL $0x4b400000, AX
	VPBROADCASTD AX, Z5
	SHRQ $4, CX
	JZ cdone

cloop:
	VMULPS (SI), Z1, Z0
	VMAXPS Z0, Z2, Z0
	VMINPS Z0, Z3, Z0
	VADDPS Z5, Z0, Z0
	VSUBPS Z5, Z0, Z0
	VCVTTPS2DQ Z0, Z0
	VPADDD Z4, Z0, Z0
	VPMOVDB Z0, (DI)
	ADDQ $64, SI
	ADDQ $16, DI
	DECQ CX
	JNZ cloop

cdone:
	VZEROUPPER
	RET

// func scaleBiasAVX512(y *float32, acc *int32, scale *float64, bias *float32, n int)
// y[j] = float32(scale[j]·float64(acc[j])) (+ bias[j] when bias != nil)
// for the first n&^7 values: an exact int32→float64 conversion, one
// float64 multiply, one round-to-nearest narrowing and one float32 add.
TEXT ·scaleBiasAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ scale+16(FP), DX
	MOVQ bias+24(FP), R8
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ sdone
	TESTQ R8, R8
	JZ snobias

sloop:
	VCVTDQ2PD (SI), Z0
	VMULPD (DX), Z0, Z0
	VCVTPD2PS Z0, Y0
	VADDPS (R8), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $64, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ sloop
	JMP sdone

snobias:
	VCVTDQ2PD (SI), Z0
	VMULPD (DX), Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $64, DX
	ADDQ $32, DI
	DECQ CX
	JNZ snobias

sdone:
	VZEROUPPER
	RET
