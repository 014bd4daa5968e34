#include "textflag.h"
#include "act_amd64.h"

// func intEpiRowAVX(y *float32, acc *int32, p *intEpi, n, rows, ld, noY int)
// rows rows of a fused integer epilogue (row r at y, acc and p.res plus
// r·ld values), the first n values of each (a multiple of 16), 16 at a
// time: v = float32(scale·float64(acc)) (exact conversion, one float64
// multiply, one rounding), + bias, BatchNorm v·a + b, act1, + res, act2,
// each step skipped when its pointer (or act) is zero: scaleBias's and
// the stages' operations in their order. v is stored unless noY != 0.
// With p.codes not nil (then n == ld) the next layer's input codes of v
// are stored there too, consecutively, by codesAVX512's operations.
TEXT ·intEpiRowAVX(SB), NOSPLIT, $0-56
	ACTCONSTS
	MOVL         $0x4b400000, CX
	VPBROADCASTD CX, Z9
	MOVQ         y+0(FP), DI
	MOVQ         acc+8(FP), SI
	MOVQ         p+16(FP), AX
	MOVQ         0(AX), R8
	MOVQ         8(AX), R9
	MOVQ         16(AX), R10
	MOVQ         24(AX), R11
	MOVQ         32(AX), R12
	MOVQ         40(AX), R13
	MOVQ         48(AX), R14
	VBROADCASTSS 64(AX), Z5
	VBROADCASTSS 68(AX), Z6
	VBROADCASTSS 72(AX), Z7
	VPBROADCASTD 76(AX), Z8
	MOVQ         56(AX), AX
	MOVQ         rows+32(FP), DX
	MOVQ         ld+40(FP), R15
	SHLQ         $2, R15
	TESTQ        DX, DX
	JZ           iedone

ierow:
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   iedone
	XORQ BX, BX

ieloop:
	VCVTDQ2PD    (SI)(BX*1), Z0
	VMULPD       (R8)(BX*2), Z0, Z0
	VCVTPD2PS    Z0, Y0
	VCVTDQ2PD    32(SI)(BX*1), Z4
	VMULPD       64(R8)(BX*2), Z4, Z4
	VCVTPD2PS    Z4, Y4
	VINSERTF32X8 $1, Y4, Z0, Z0
	TESTQ        R9, R9
	JZ           ienobias
	VADDPS       (R9)(BX*1), Z0, Z0

ienobias:
	TESTQ  R10, R10
	JZ     ienobn
	VMULPS (R10)(BX*1), Z0, Z0
	VADDPS (R11)(BX*1), Z0, Z0

ienobn:
	ACT(R13, iea1relu, iea1done)
	TESTQ  R12, R12
	JZ     ienores
	VADDPS (R12)(BX*1), Z0, Z0

ienores:
	ACT(R14, iea2relu, iea2done)
	CMPQ    noY+48(FP), $0
	JNE     ienostore
	VMOVUPS Z0, (DI)(BX*1)

ienostore:
	TESTQ      AX, AX
	JZ         ienocodes
	VMULPS     Z0, Z5, Z4
	VMAXPS     Z4, Z6, Z4
	VMINPS     Z4, Z7, Z4
	VADDPS     Z9, Z4, Z4
	VSUBPS     Z9, Z4, Z4
	VCVTTPS2DQ Z4, Z4
	VPADDD     Z8, Z4, Z4
	VPMOVDB    Z4, (AX)
	ADDQ       $16, AX

ienocodes:
	ADDQ $64, BX
	DECQ CX
	JNZ  ieloop

	ADDQ  R15, DI
	ADDQ  R15, SI
	TESTQ R12, R12
	JZ    ienextrow
	ADDQ  R15, R12

ienextrow:
	DECQ DX
	JNZ  ierow

iedone:
	VZEROUPPER
	RET
