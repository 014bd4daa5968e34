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
