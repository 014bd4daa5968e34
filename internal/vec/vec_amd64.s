//go:build amd64

#include "textflag.h"

// Every loop runs 16 floats per pass under the opmask K1: all ones for whole
// vectors, the first n bits for the last partial one (loads zero the lanes
// outside it, stores skip them).
//
// TAIL sets K1 for the n%16 floats left in CX and makes CX 16, so the body
// runs once more and the loop then ends.
#define TAIL(label) \
	TESTQ CX, CX; \
	JEQ   label; \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX; \
	KMOVW AX, K1; \
	MOVQ  $16, CX

// magic: 1.5·2^23 as float32.
#define MAGIC $0x4b400000

// func quantClipAVX512(y, x *float32, n int, inv, s, lo, hi float32)
TEXT ·quantClipAVX512(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z1
	VBROADCASTSS s+28(FP), Z2
	VBROADCASTSS lo+32(FP), Z3
	VBROADCASTSS hi+36(FP), Z4
	MOVL         MAGIC, AX
	VPBROADCASTD AX, Z5
	MOVL         $0xffff, AX
	KMOVW        AX, K1

qcLoop:
	CMPQ CX, $16
	JGE  qcBody
	TAIL(qcDone)

qcBody:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z1, Z0, Z0   // u = x·inv
	VMAXPS    Z0, Z3, Z0   // max(lo, u): u second, so a NaN u stays NaN
	VMINPS    Z0, Z4, Z0   // min(hi, ·)
	VADDPS    Z5, Z0, Z0
	VSUBPS    Z5, Z0, Z0   // round half to even
	VMULPS    Z2, Z0, Z0   // ·s
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       qcLoop

qcDone:
	VZEROUPPER
	RET

// func lsqGradAVX512(dx, grad, x *float32, n int, inv, lo, hi float32, acc *[16]float64)
TEXT ·lsqGradAVX512(SB), NOSPLIT, $0-56
	MOVQ         dx+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS inv+32(FP), Z1
	VBROADCASTSS lo+36(FP), Z3
	VBROADCASTSS hi+40(FP), Z4
	MOVQ         acc+48(FP), BX
	MOVL         MAGIC, AX
	VPBROADCASTD AX, Z5
	VPXORQ       Z10, Z10, Z10 // float64 sums of lanes 0-7
	VPXORQ       Z11, Z11, Z11 // lanes 8-15
	MOVL         $0xffff, AX
	KMOVW        AX, K1

lgLoop:
	CMPQ CX, $16
	JGE  lgBody
	TAIL(lgDone)

lgBody:
	VMOVUPS.Z     (SI), K1, Z0
	VMULPS        Z1, Z0, Z0          // u
	VCMPPS        $0x1e, Z3, Z0, K1, K2 // u > lo (ordered)
	VCMPPS        $0x11, Z4, Z0, K2, K2 // and u < hi: K2 = inside
	VMAXPS        Z0, Z3, Z6
	VMINPS        Z6, Z4, Z6
	VADDPS        Z5, Z6, Z6
	VSUBPS        Z5, Z6, Z6          // r = round(clip(u))
	VMOVUPS.Z     Z0, K2, Z7          // u·1{inside}
	VSUBPS        Z7, Z6, Z6          // d = r − u·1{inside}
	VMOVUPS.Z     (DX), K1, Z8        // g
	VMULPS        Z6, Z8, Z6          // g·d
	VCVTPS2PD     Y6, Z9
	VADDPD        Z9, Z10, K1, Z10
	VEXTRACTF64X4 $1, Z6, Y9
	VCVTPS2PD     Y9, Z9
	KSHIFTRW      $8, K1, K3
	VADDPD        Z9, Z11, K3, Z11
	TESTQ         DI, DI
	JEQ           lgNext
	VMOVUPS.Z     Z8, K2, Z8          // g·1{inside}
	VMOVUPS       Z8, K1, (DI)
	ADDQ          $64, DI

lgNext:
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX
	JMP  lgLoop

lgDone:
	VMOVUPD Z10, (BX)
	VMOVUPD Z11, 64(BX)
	VZEROUPPER
	RET

// func signAVX512(y, x *float32, n int)
TEXT ·signAVX512(SB), NOSPLIT, $0-24
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VPXORD       Z2, Z2, Z2
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z5          // +1
	MOVL         $0xbf800000, AX
	VPBROADCASTD AX, Z3          // −1
	MOVL         $0xffff, AX
	KMOVW        AX, K1

sgLoop:
	CMPQ CX, $16
	JGE  sgBody
	TAIL(sgDone)

sgBody:
	VMOVUPS.Z (SI), K1, Z0
	VCMPPS    $0x1d, Z2, Z0, K1, K2 // x ≥ 0 (ordered: NaN is not)
	VMOVAPS   Z3, Z4
	VMOVAPS   Z5, K2, Z4
	VMOVUPS   Z4, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       sgLoop

sgDone:
	VZEROUPPER
	RET

// func keepAbsLEAVX512(dst, grad, x *float32, n int, c float32)
TEXT ·keepAbsLEAVX512(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS c+32(FP), Z2
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z6
	MOVL         $0xffff, AX
	KMOVW        AX, K1

kaLoop:
	CMPQ CX, $16
	JGE  kaBody
	TAIL(kaDone)

kaBody:
	VMOVUPS.Z (SI), K1, Z0
	VPANDD    Z6, Z0, Z0            // |x|
	VCMPPS    $0x12, Z2, Z0, K1, K2 // |x| ≤ c (ordered: NaN is not)
	VMOVUPS.Z (DX), K2, Z8          // g where kept, +0 elsewhere
	VMOVUPS   Z8, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       kaLoop

kaDone:
	VZEROUPPER
	RET

// func reluAVX512(y, x *float32, n int)
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ  y+0(FP), DI
	MOVQ  x+8(FP), SI
	MOVQ  n+16(FP), CX
	MOVL  $0xffff, AX
	KMOVW AX, K1

reLoop:
	CMPQ CX, $16
	JGE  reBody
	TAIL(reDone)

reBody:
	VMOVUPS.Z (SI), K1, Z0
	VPSRAD    $31, Z0, Z1   // all ones where the sign bit is set
	VPANDND   Z0, Z1, Z2    // x &^ mask
	VMOVUPS   Z2, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       reLoop

reDone:
	VZEROUPPER
	RET

// func clipAVX512(y, x *float32, n int, lo, hi float32)
TEXT ·clipAVX512(SB), NOSPLIT, $0-32
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS lo+24(FP), Z3
	VBROADCASTSS hi+28(FP), Z4
	MOVL         $0xffff, AX
	KMOVW        AX, K1

clLoop:
	CMPQ CX, $16
	JGE  clBody
	TAIL(clDone)

clBody:
	VMOVUPS.Z (SI), K1, Z0
	VMAXPS    Z0, Z3, Z0   // x second: a NaN x stays NaN, −0 stays −0
	VMINPS    Z0, Z4, Z0
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       clLoop

clDone:
	VZEROUPPER
	RET

// func keepInsideAVX512(dst, grad, x *float32, n int, lo, hi float32)
TEXT ·keepInsideAVX512(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS lo+32(FP), Z3
	VBROADCASTSS hi+36(FP), Z4
	MOVL         $0xffff, AX
	KMOVW        AX, K1

kiLoop:
	CMPQ CX, $16
	JGE  kiBody
	TAIL(kiDone)

kiBody:
	VMOVUPS.Z (SI), K1, Z0
	VCMPPS    $0x1e, Z3, Z0, K1, K2 // x > lo (ordered)
	VCMPPS    $0x11, Z4, Z0, K2, K2 // and x < hi
	VMOVUPS.Z (DX), K2, Z8
	VMOVUPS   Z8, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       kiLoop

kiDone:
	VZEROUPPER
	RET

// The per-channel loops walk the rows contiguously: a row is c floats in
// chunks of 16, the last chunk (1–16 floats) under the mask K2; the data
// cursors then advance by that chunk's length, so they start the next row
// in place, and the per-channel pointers restart.
//
// LASTMASK sets K2 for the last chunk of a row of c = R11 channels.
#define LASTMASK \
	MOVQ  R11, CX; \
	ANDQ  $15, CX; \
	MOVL  $0xffff, AX; \
	JEQ   4(PC); \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX; \
	KMOVW AX, K2

// func scaleShiftAVX512(y, x, a, b *float32, rows, c int)
TEXT ·scaleShiftAVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+32(FP), R8
	MOVQ c+40(FP), R11
	LASTMASK

ssRow:
	TESTQ R8, R8
	JEQ   ssDone
	MOVQ  a+16(FP), R9
	MOVQ  b+24(FP), R10
	MOVQ  R11, CX

ssChunk:
	CMPQ    CX, $16
	JLE     ssLast
	VMOVUPS (SI), Z0
	VMULPS  (R9), Z0, Z0
	VADDPS  (R10), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, R9
	ADDQ    $64, R10
	SUBQ    $16, CX
	JMP     ssChunk

ssLast:
	VMOVUPS.Z (SI), K2, Z0
	VMOVUPS.Z (R9), K2, Z1
	VMULPS    Z1, Z0, Z0
	VMOVUPS.Z (R10), K2, Z1
	VADDPS    Z1, Z0, Z0
	VMOVUPS   Z0, K2, (DI)
	LEAQ      (SI)(CX*4), SI
	LEAQ      (DI)(CX*4), DI
	DECQ      R8
	JMP       ssRow

ssDone:
	VZEROUPPER
	RET

// func channelSumsAVX512(d1, d2, x, shift *float32, rows, c int)
TEXT ·channelSumsAVX512(SB), NOSPLIT, $0-48
	MOVQ x+16(FP), SI
	MOVQ rows+32(FP), R8
	MOVQ c+40(FP), R11
	LASTMASK

csRow:
	TESTQ R8, R8
	JEQ   csDone
	MOVQ  d1+0(FP), R9
	MOVQ  d2+8(FP), R10
	MOVQ  shift+24(FP), BX
	MOVQ  R11, CX

csChunk:
	CMPQ    CX, $16
	JLE     csLast
	VMOVUPS (SI), Z0
	VSUBPS  (BX), Z0, Z0   // u = x − shift
	VADDPS  (R9), Z0, Z1
	VMOVUPS Z1, (R9)
	VMULPS  Z0, Z0, Z2
	VADDPS  (R10), Z2, Z2
	VMOVUPS Z2, (R10)
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $64, R9
	ADDQ    $64, R10
	SUBQ    $16, CX
	JMP     csChunk

csLast:
	VMOVUPS.Z (SI), K2, Z0
	VMOVUPS.Z (BX), K2, Z1
	VSUBPS    Z1, Z0, Z0
	VMOVUPS.Z (R9), K2, Z1
	VADDPS    Z1, Z0, Z1
	VMOVUPS   Z1, K2, (R9)
	VMULPS    Z0, Z0, Z2
	VMOVUPS.Z (R10), K2, Z1
	VADDPS    Z1, Z2, Z2
	VMOVUPS   Z2, K2, (R10)
	LEAQ      (SI)(CX*4), SI
	DECQ      R8
	JMP       csRow

csDone:
	VZEROUPPER
	RET

// func channelGradSumsAVX512(d1, d2, grad, x, mean, invstd *float32, rows, c int)
TEXT ·channelGradSumsAVX512(SB), NOSPLIT, $0-64
	MOVQ grad+16(FP), DX
	MOVQ x+24(FP), SI
	MOVQ rows+48(FP), R8
	MOVQ c+56(FP), R11
	LASTMASK

gsRow:
	TESTQ R8, R8
	JEQ   gsDone
	MOVQ  d1+0(FP), R9
	MOVQ  d2+8(FP), R10
	MOVQ  mean+32(FP), BX
	MOVQ  invstd+40(FP), R12
	MOVQ  R11, CX

gsChunk:
	CMPQ    CX, $16
	JLE     gsLast
	VMOVUPS (DX), Z0       // g
	VMOVUPS (SI), Z1
	VSUBPS  (BX), Z1, Z1   // x − mean
	VMULPS  Z1, Z0, Z1     // g·(x − mean)
	VMULPS  (R12), Z1, Z1  // ·invstd
	VADDPS  (R9), Z0, Z2
	VMOVUPS Z2, (R9)
	VADDPS  (R10), Z1, Z1
	VMOVUPS Z1, (R10)
	ADDQ    $64, DX
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $64, R12
	ADDQ    $64, R9
	ADDQ    $64, R10
	SUBQ    $16, CX
	JMP     gsChunk

gsLast:
	VMOVUPS.Z (DX), K2, Z0
	VMOVUPS.Z (SI), K2, Z1
	VMOVUPS.Z (BX), K2, Z3
	VSUBPS    Z3, Z1, Z1
	VMULPS    Z1, Z0, Z1
	VMOVUPS.Z (R12), K2, Z3
	VMULPS    Z3, Z1, Z1
	VMOVUPS.Z (R9), K2, Z3
	VADDPS    Z3, Z0, Z2
	VMOVUPS   Z2, K2, (R9)
	VMOVUPS.Z (R10), K2, Z3
	VADDPS    Z3, Z1, Z1
	VMOVUPS   Z1, K2, (R10)
	LEAQ      (DX)(CX*4), DX
	LEAQ      (SI)(CX*4), SI
	DECQ      R8
	JMP       gsRow

gsDone:
	VZEROUPPER
	RET

// func bnBackwardAVX512(dx, grad, x *float32, p *bnParams, rows, c int)
// p: a+0, b1+8, b2+16, mean+24, invstd+32.
TEXT ·bnBackwardAVX512(SB), NOSPLIT, $0-48
	MOVQ dx+0(FP), DI
	MOVQ grad+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ p+24(FP), R13
	MOVQ rows+32(FP), R8
	MOVQ c+40(FP), R11
	LASTMASK

bbRow:
	TESTQ R8, R8
	JEQ   bbDone
	MOVQ  0(R13), R9       // a
	MOVQ  8(R13), R10      // b1
	MOVQ  16(R13), BX      // b2
	MOVQ  24(R13), R12     // mean
	MOVQ  32(R13), AX      // invstd
	MOVQ  R11, CX

bbChunk:
	CMPQ    CX, $16
	JLE     bbLast
	VMOVUPS (SI), Z1
	VSUBPS  (R12), Z1, Z1  // x − mean
	VMULPS  (AX), Z1, Z1   // ·invstd
	VMULPS  (BX), Z1, Z1   // ·b2 = t
	VMOVUPS (DX), Z0
	VSUBPS  (R10), Z0, Z0  // g − b1
	VSUBPS  Z1, Z0, Z0     // − t
	VMULPS  (R9), Z0, Z0   // ·a
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	ADDQ    $64, R9
	ADDQ    $64, R10
	ADDQ    $64, BX
	ADDQ    $64, R12
	ADDQ    $64, AX
	SUBQ    $16, CX
	JMP     bbChunk

bbLast:
	VMOVUPS.Z (SI), K2, Z1
	VMOVUPS.Z (R12), K2, Z3
	VSUBPS    Z3, Z1, Z1
	VMOVUPS.Z (AX), K2, Z3
	VMULPS    Z3, Z1, Z1
	VMOVUPS.Z (BX), K2, Z3
	VMULPS    Z3, Z1, Z1
	VMOVUPS.Z (DX), K2, Z0
	VMOVUPS.Z (R10), K2, Z3
	VSUBPS    Z3, Z0, Z0
	VSUBPS    Z1, Z0, Z0
	VMOVUPS.Z (R9), K2, Z3
	VMULPS    Z3, Z0, Z0
	VMOVUPS   Z0, K2, (DI)
	LEAQ      (SI)(CX*4), SI
	LEAQ      (DX)(CX*4), DX
	LEAQ      (DI)(CX*4), DI
	DECQ      R8
	JMP       bbRow

bbDone:
	VZEROUPPER
	RET

// func adamAVX512(data, grad, m, v *float32, n int, p *AdamParams)
// p: B1+0 C1+4 B2+8 C2+12 StepSize+16 BC2Sqrt+20 Eps+24 WD+28.
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ         data+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         m+16(FP), R9
	MOVQ         v+24(FP), R10
	MOVQ         n+32(FP), CX
	MOVQ         p+40(FP), BX
	VBROADCASTSS 0(BX), Z20  // β1
	VBROADCASTSS 4(BX), Z21  // 1−β1
	VBROADCASTSS 8(BX), Z22  // β2
	VBROADCASTSS 12(BX), Z23 // 1−β2
	VBROADCASTSS 16(BX), Z24 // step size
	VBROADCASTSS 20(BX), Z25 // √(1−β2^t)
	VBROADCASTSS 24(BX), Z26 // eps
	VBROADCASTSS 28(BX), Z27 // weight decay
	MOVL         28(BX), R8  // its bits: 0 means none (±0 both add nothing)
	ANDL         $0x7fffffff, R8
	MOVL         $0xffff, AX
	KMOVW        AX, K1

adLoop:
	CMPQ CX, $16
	JGE  adBody
	TAIL(adDone)

adBody:
	VMOVUPS.Z (DX), K1, Z0 // g
	VMOVUPS.Z (DI), K1, Z1 // w
	TESTL     R8, R8
	JEQ       adNoDecay
	VMULPS    Z1, Z27, Z2
	VADDPS    Z2, Z0, Z0   // g + wd·w

adNoDecay:
	VMOVUPS.Z (R9), K1, Z3
	VMULPS    Z3, Z20, Z3  // β1·m
	VMULPS    Z0, Z21, Z2  // (1−β1)·g
	VADDPS    Z2, Z3, Z3
	VMOVUPS   Z3, K1, (R9)
	VMOVUPS.Z (R10), K1, Z4
	VMULPS    Z4, Z22, Z4  // β2·v
	VMULPS    Z0, Z23, Z2  // (1−β2)·g
	VMULPS    Z0, Z2, Z2   // ·g
	VADDPS    Z2, Z4, Z4
	VMOVUPS   Z4, K1, (R10)
	VSQRTPS   Z4, Z5
	VDIVPS    Z25, Z5, Z5  // √v / √(1−β2^t)
	VADDPS    Z26, Z5, Z5  // + eps
	VDIVPS    Z5, Z3, Z3   // m / denom
	VMULPS    Z3, Z24, Z3  // · step size
	VSUBPS    Z3, Z1, Z1
	VMOVUPS   Z1, K1, (DI)
	ADDQ      $64, DI
	ADDQ      $64, DX
	ADDQ      $64, R9
	ADDQ      $64, R10
	SUBQ      $16, CX
	JMP       adLoop

adDone:
	VZEROUPPER
	RET
