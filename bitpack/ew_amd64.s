//go:build amd64

#include "textflag.h"
#include "act_amd64.h"

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

// func addInt32RowAVX(y, r *int32, n int)
// y = y + r (int32, wrapping)
TEXT ·addInt32RowAVX(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ r+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   aidone

ailoop:
	VMOVDQU32 (DI), Z0
	VPADDD    (SI), Z0, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ      $64, DI
	ADDQ      $64, SI
	DECQ      CX
	JNZ       ailoop

aidone:
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

// func epiRowAVX(y *float32, acc *int32, p *epiRow, n, rows, ld int)
// rows rows of a fused xnor epilogue (row r at y, acc and p.res plus
// r·ld values), the first n values of each (a multiple of 16), 16 at a
// time: v = float32(scale·float32(acc)), + bias, BatchNorm v·a + b,
// act1, + res, act2, each step skipped when its pointer (or act) is
// zero; the Go code's operations in its order. With p.pk not nil (then
// n == ld, a multiple of 64) the signs of v are packed there too,
// consecutively, as packSignsAVX packs them (bit set for v < 0).
TEXT ·epiRowAVX(SB), NOSPLIT, $0-48
	ACTCONSTS
	MOVQ  y+0(FP), DI
	MOVQ  acc+8(FP), SI
	MOVQ  p+16(FP), AX
	MOVQ  0(AX), R8
	MOVQ  8(AX), R9
	MOVQ  16(AX), R10
	MOVQ  24(AX), R11
	MOVQ  32(AX), R12
	MOVQ  40(AX), R13
	MOVQ  48(AX), R14
	MOVQ  56(AX), AX
	MOVQ  rows+32(FP), DX
	MOVQ  ld+40(FP), R15
	SHLQ  $2, R15
	TESTQ DX, DX
	JZ    epdone

eprow:
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   epdone
	XORQ BX, BX

eploop:
	VCVTDQ2PS (SI)(BX*1), Z0
	VMULPS    (R8)(BX*1), Z0, Z0
	TESTQ     R9, R9
	JZ        epnobias
	VADDPS    (R9)(BX*1), Z0, Z0

epnobias:
	TESTQ  R10, R10
	JZ     epnobn
	VMULPS (R10)(BX*1), Z0, Z0
	VADDPS (R11)(BX*1), Z0, Z0

epnobn:
	ACT(R13, epa1relu, epa1done)
	TESTQ  R12, R12
	JZ     epnores
	VADDPS (R12)(BX*1), Z0, Z0

epnores:
	ACT(R14, epa2relu, epa2done)
	VMOVUPS Z0, (DI)(BX*1)
	TESTQ   AX, AX
	JZ      epnopack
	VCMPPS  $0x11, Z3, Z0, K1
	KMOVW   K1, (AX)
	ADDQ    $2, AX

epnopack:
	ADDQ $64, BX
	DECQ CX
	JNZ  eploop

	ADDQ  R15, DI
	ADDQ  R15, SI
	TESTQ R12, R12
	JZ    epnextrow
	ADDQ  R15, R12

epnextrow:
	DECQ DX
	JNZ  eprow

epdone:
	VZEROUPPER
	RET

// func bnActRowAVX(dst, src, a, b *float32, n, act, maxInto, pix, sst, dst_, kw, cst int)
// For each of pix pixels (pixel p at src + p·sst and dst + p·dst_
// floats), over its first n values (a multiple of 16): v = act(s·a + b)
// (no BatchNorm when a is nil) for the kw sources s at src, src + cst,
// ... (in that order); dst = the max of the v (the first copied, each
// next one max-ed in as maxRowAVX does), after dst's own value when
// maxInto != 0.
TEXT ·bnActRowAVX(SB), NOSPLIT, $0-96
	ACTCONSTS
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  a+16(FP), R10
	MOVQ  b+24(FP), R11
	MOVQ  act+40(FP), R13
	MOVQ  maxInto+48(FP), R14
	MOVQ  pix+56(FP), DX
	MOVQ  sst+64(FP), R8
	SHLQ  $2, R8
	MOVQ  dst_+72(FP), R9
	SHLQ  $2, R9
	MOVQ  cst+88(FP), R15
	SHLQ  $2, R15
	TESTQ DX, DX
	JZ    badone

bapix:
	MOVQ n+32(FP), CX
	SHRQ $4, CX
	JZ   badone
	XORQ BX, BX

baloop:
	VMOVUPS (SI)(BX*1), Z0
	TESTQ   R10, R10
	JZ      banobn
	VMULPS  (R10)(BX*1), Z0, Z0
	VADDPS  (R11)(BX*1), Z0, Z0

banobn:
	ACT(R13, baarelu, baadone)
	TESTQ    R14, R14
	JZ       bacols
	VMOVUPS  (DI)(BX*1), Z4
	VCMPPS   $3, Z0, Z4, K1
	VRANGEPS $5, Z0, Z4, Z5
	VADDPS   Z0, Z4, K1, Z5
	VMOVAPS  Z5, Z0

bacols:
	MOVQ kw+80(FP), AX
	DECQ AX
	JLE  bastore
	MOVQ SI, R12

bacol:
	ADDQ    R15, R12
	VMOVAPS Z0, Z4
	VMOVUPS (R12)(BX*1), Z0
	TESTQ   R10, R10
	JZ      bacnobn
	VMULPS  (R10)(BX*1), Z0, Z0
	VADDPS  (R11)(BX*1), Z0, Z0

bacnobn:
	ACT(R13, bacrelu, bacdone)
	VCMPPS   $3, Z0, Z4, K1
	VRANGEPS $5, Z0, Z4, Z5
	VADDPS   Z0, Z4, K1, Z5
	VMOVAPS  Z5, Z0
	DECQ     AX
	JNZ      bacol

bastore:
	VMOVUPS Z0, (DI)(BX*1)
	ADDQ    $64, BX
	DECQ    CX
	JNZ     baloop

	ADDQ R8, SI
	ADDQ R9, DI
	DECQ DX
	JNZ  bapix

badone:
	VZEROUPPER
	RET
