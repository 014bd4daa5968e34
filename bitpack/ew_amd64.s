//go:build amd64

#include "textflag.h"

// Elementwise float32 rows of the fused engine (engine_ew.go). Each
// processes n values, n a multiple of 16, with the float32 operations of
// the Go code they replace: no fused multiply-add, and min/max operand
// orders that keep Go's NaN and signed-zero results.

// func bnRowAVX(y, a, b *float32, n int)
// y = float32(y·a) + b
TEXT ·bnRowAVX(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   bndone

bnloop:
	VMOVUPS (DI), Z0
	VMULPS  (SI), Z0, Z0
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	ADDQ    $64, DX
	DECQ    CX
	JNZ     bnloop

bndone:
	VZEROUPPER
	RET

// func hardTanhRowAVX(y *float32, n int)
// y = min(max(y, −1), 1): VMAXPS/VMINPS return their second source when
// either is NaN, so y comes second and a NaN stays NaN; −0 stays −0.
TEXT ·hardTanhRowAVX(SB), NOSPLIT, $0-16
	MOVQ         y+0(FP), DI
	MOVQ         n+8(FP), CX
	MOVL         $0xBF800000, AX
	VPBROADCASTD AX, Z1
	MOVL         $0x3F800000, AX
	VPBROADCASTD AX, Z2
	SHRQ         $4, CX
	JZ           htdone

htloop:
	VMOVUPS (DI), Z0
	VMAXPS  Z0, Z1, Z0
	VMINPS  Z0, Z2, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	DECQ    CX
	JNZ     htloop

htdone:
	VZEROUPPER
	RET

// func reluRowAVX(y *float32, n int)
// y = max(y, 0): VMAXPS(0, y) keeps a NaN y; adding +0 turns −0 into +0
// and changes nothing else.
TEXT ·reluRowAVX(SB), NOSPLIT, $0-16
	MOVQ   y+0(FP), DI
	MOVQ   n+8(FP), CX
	VXORPS Z1, Z1, Z1
	SHRQ   $4, CX
	JZ     rldone

rlloop:
	VMOVUPS (DI), Z0
	VMAXPS  Z0, Z1, Z0
	VADDPS  Z1, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	DECQ    CX
	JNZ     rlloop

rldone:
	VZEROUPPER
	RET

// func addRowAVX(y, r *float32, n int)
// y = y + r
TEXT ·addRowAVX(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ r+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   addone

adloop:
	VMOVUPS (DI), Z0
	VADDPS  (SI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	DECQ    CX
	JNZ     adloop

addone:
	VZEROUPPER
	RET

// func maxRowAVX(y, r *float32, n int)
// y = max(y, r) with Go's semantics: VRANGEPS imm 5 (max, sign from the
// comparison) orders −0 below +0; lanes where either is NaN get y + r, a
// NaN.
TEXT ·maxRowAVX(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ r+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   mxdone

mxloop:
	VMOVUPS  (DI), Z0
	VMOVUPS  (SI), Z1
	VCMPPS   $3, Z1, Z0, K1
	VRANGEPS $5, Z1, Z0, Z2
	VADDPS   Z1, Z0, K1, Z2
	VMOVUPS  Z2, (DI)
	ADDQ     $64, DI
	ADDQ     $64, SI
	DECQ     CX
	JNZ      mxloop

mxdone:
	VZEROUPPER
	RET

// func xnorOutRowAVX(y *float32, acc *int32, scale, bias *float32, n int)
// y = float32(scale·float32(acc)) (+ bias when bias is not nil)
TEXT ·xnorOutRowAVX(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ scale+16(FP), DX
	MOVQ bias+24(FP), BX
	MOVQ n+32(FP), CX
	SHRQ $4, CX
	JZ   xodone
	TESTQ BX, BX
	JZ   xonobias

xoloop:
	VCVTDQ2PS (SI), Z0
	VMULPS    (DX), Z0, Z0
	VADDPS    (BX), Z0, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $64, DI
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, BX
	DECQ      CX
	JNZ       xoloop
	JMP       xodone

xonobias:
	VCVTDQ2PS (SI), Z0
	VMULPS    (DX), Z0, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $64, DI
	ADDQ      $64, SI
	ADDQ      $64, DX
	DECQ      CX
	JNZ       xonobias

xodone:
	VZEROUPPER
	RET

// func packSignsAVX(dst *uint64, x *float32, words int)
// dst[w] bit j = x[64w+j] < 0 (ordered: NaN and −0 give 0).
TEXT ·packSignsAVX(SB), NOSPLIT, $0-24
	MOVQ   dst+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   words+16(FP), CX
	VXORPS Z4, Z4, Z4
	TESTQ  CX, CX
	JZ     pkdone

pkloop:
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VCMPPS  $0x11, Z4, Z0, K1
	VCMPPS  $0x11, Z4, Z1, K2
	VCMPPS  $0x11, Z4, Z2, K3
	VCMPPS  $0x11, Z4, Z3, K4
	KMOVW   K1, AX
	KMOVW   K2, BX
	KMOVW   K3, DX
	KMOVW   K4, R8
	SHLQ    $16, BX
	SHLQ    $32, DX
	SHLQ    $48, R8
	ORQ     BX, AX
	ORQ     DX, AX
	ORQ     R8, AX
	MOVQ    AX, (DI)
	ADDQ    $8, DI
	ADDQ    $256, SI
	DECQ    CX
	JNZ     pkloop

pkdone:
	VZEROUPPER
	RET
