#include "textflag.h"

// The loops of quant.go, 16 floats per pass under the opmask K1 as in
// vec_amd64.s (TAIL: the n%16 floats left in CX, then one more pass).
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

// func quantLinearAVX512(y, x *float32, n int, mul, lo, hi, num, den float32)
TEXT ·quantLinearAVX512(SB), NOSPLIT, $0-44
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mul+24(FP), Z1
	VBROADCASTSS lo+28(FP), Z3
	VBROADCASTSS hi+32(FP), Z4
	VBROADCASTSS num+36(FP), Z2
	VBROADCASTSS den+40(FP), Z6
	MOVL         MAGIC, AX
	VPBROADCASTD AX, Z5
	MOVL         $0xffff, AX
	KMOVW        AX, K1

qlLoop:
	CMPQ CX, $16
	JGE  qlBody
	TAIL(qlDone)

qlBody:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z1, Z0, Z0   // u = x·mul
	VMAXPS    Z0, Z3, Z0   // max(lo, u): u second, so a NaN u stays NaN
	VMINPS    Z0, Z4, Z0   // min(hi, ·)
	VADDPS    Z5, Z0, Z0
	VSUBPS    Z5, Z0, Z0   // round half to even
	VMULPS    Z2, Z0, Z0   // ·num
	VDIVPS    Z6, Z0, Z0   // /den
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       qlLoop

qlDone:
	VZEROUPPER
	RET

// func pactGradAVX512(dx, grad, x *float32, n int, a float32, acc *[16]float64)
TEXT ·pactGradAVX512(SB), NOSPLIT, $0-48
	MOVQ         dx+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS a+32(FP), Z4
	MOVQ         acc+40(FP), BX
	VPXORD       Z3, Z3, Z3    // 0
	VPXORQ       Z10, Z10, Z10 // float64 sums of lanes 0-7
	VPXORQ       Z11, Z11, Z11 // lanes 8-15
	MOVL         $0xffff, AX
	KMOVW        AX, K1

pgLoop:
	CMPQ CX, $16
	JGE  pgBody
	TAIL(pgDone)

pgBody:
	VMOVUPS.Z     (SI), K1, Z0
	VMOVUPS.Z     (DX), K1, Z8          // g
	VCMPPS        $0x1d, Z4, Z0, K1, K4 // x ≥ a (ordered)
	VMOVUPS.Z     Z8, K4, Z6            // g·1{x ≥ a}
	VCVTPS2PD     Y6, Z9
	VADDPD        Z9, Z10, Z10
	VEXTRACTF64X4 $1, Z6, Y9
	VCVTPS2PD     Y9, Z9
	VADDPD        Z9, Z11, Z11
	TESTQ         DI, DI
	JEQ           pgNext
	VCMPPS        $0x1d, Z3, Z0, K1, K2 // x ≥ 0 (ordered)
	VCMPPS        $0x11, Z4, Z0, K2, K2 // and x < a
	VMOVUPS.Z     Z8, K2, Z7
	VMOVUPS       Z7, K1, (DI)
	ADDQ          $64, DI

pgNext:
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX
	JMP  pgLoop

pgDone:
	VMOVUPD Z10, (BX)
	VMOVUPD Z11, 64(BX)
	VZEROUPPER
	RET

// func noisyLevelsAVX512(out, grad, u *float32, n int, inv, l, m2 float32)
TEXT ·noisyLevelsAVX512(SB), NOSPLIT, $0-44
	MOVQ         out+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         u+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS inv+32(FP), Z1
	VBROADCASTSS l+36(FP), Z2
	VBROADCASTSS m2+40(FP), Z3
	MOVL         MAGIC, AX
	VPBROADCASTD AX, Z5
	MOVL         $0x3f000000, AX
	VPBROADCASTD AX, Z6 // ½
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z7 // 1
	VPXORD       Z4, Z4, Z4 // 0
	MOVL         $0xffff, AX
	KMOVW        AX, K1

nlLoop:
	CMPQ CX, $16
	JGE  nlBody
	TAIL(nlDone)

nlBody:
	VMOVUPS.Z (DX), K1, Z0
	VMOVUPS.Z (SI), K1, Z8
	VMULPS    Z1, Z0, Z0   // g·inv
	VADDPS    Z6, Z0, Z0   // + ½
	VSUBPS    Z6, Z8, Z8   // u − ½
	VDIVPS    Z2, Z8, Z8   // /l
	VADDPS    Z8, Z0, Z0   // r
	VMAXPS    Z0, Z4, Z0   // max(0, r): r second, so a NaN r stays NaN
	VMINPS    Z0, Z7, Z0   // min(1, ·)
	VMULPS    Z2, Z0, Z0   // l·r
	VADDPS    Z5, Z0, Z0
	VSUBPS    Z5, Z0, Z0   // round half to even
	VDIVPS    Z2, Z0, Z0   // /l
	VSUBPS    Z6, Z0, Z0   // − ½
	VMULPS    Z0, Z3, Z0   // m2·
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       nlLoop

nlDone:
	VZEROUPPER
	RET

// func tanhLevelsAVX512(y, u *float32, n int, m2, l float32)
TEXT ·tanhLevelsAVX512(SB), NOSPLIT, $0-32
	MOVQ         y+0(FP), DI
	MOVQ         u+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m2+24(FP), Z1
	VBROADCASTSS l+28(FP), Z2
	MOVL         MAGIC, AX
	VPBROADCASTD AX, Z5
	MOVL         $0x3f000000, AX
	VPBROADCASTD AX, Z6 // ½
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z7 // 1
	MOVL         $0xffff, AX
	KMOVW        AX, K1

tlLoop:
	CMPQ CX, $16
	JGE  tlBody
	TAIL(tlDone)

tlBody:
	VMOVUPS.Z (SI), K1, Z0
	VDIVPS    Z1, Z0, Z0   // u/m2
	VADDPS    Z6, Z0, Z0   // + ½
	VMULPS    Z2, Z0, Z0   // l·r
	VADDPS    Z5, Z0, Z0
	VSUBPS    Z5, Z0, Z0   // round half to even
	VDIVPS    Z2, Z0, Z0   // /l
	VADDPS    Z0, Z0, Z0   // 2·
	VSUBPS    Z7, Z0, Z0   // − 1
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       tlLoop

tlDone:
	VZEROUPPER
	RET

// func tanhGradAVX512(dst, grad, u *float32, n int, m float32)
TEXT ·tanhGradAVX512(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         grad+8(FP), DX
	MOVQ         u+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS m+32(FP), Z1
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z7 // 1
	MOVL         $0xffff, AX
	KMOVW        AX, K1

tgLoop:
	CMPQ CX, $16
	JGE  tgBody
	TAIL(tgDone)

tgBody:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DX), K1, Z8
	VMULPS    Z0, Z0, Z0   // u·u
	VSUBPS    Z0, Z7, Z0   // 1 − u·u
	VMULPS    Z0, Z8, Z0   // g·
	VDIVPS    Z1, Z0, Z0   // /m
	VMOVUPS   Z0, K1, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       tgLoop

tgDone:
	VZEROUPPER
	RET

// func tanhRationalAVX512(u, w *float32, n int)
// Eight float32 per pass, widened to float64 (K1 holds 8 lanes).
TEXT ·tanhRationalAVX512(SB), NOSPLIT, $0-24
	MOVQ         u+0(FP), DI
	MOVQ         w+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         $0xbfeedc5baafd6f4b, AX // P0
	VPBROADCASTQ AX, Z10
	MOVQ         $0xc058d26a0e26682d, AX // P1
	VPBROADCASTQ AX, Z11
	MOVQ         $0xc0993ac030580563, AX // P2
	VPBROADCASTQ AX, Z12
	MOVQ         $0x405c33f28a581b86, AX // Q0
	VPBROADCASTQ AX, Z13
	MOVQ         $0x40a176fa0e5535fa, AX // Q1
	VPBROADCASTQ AX, Z14
	MOVQ         $0x40b2ec102442040c, AX // Q2
	VPBROADCASTQ AX, Z15
	MOVL         $0xff, AX
	KMOVW        AX, K1

trLoop:
	CMPQ CX, $8
	JGE  trBody
	TESTQ CX, CX
	JEQ   trDone
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	MOVQ  $8, CX

trBody:
	VMOVUPS.Z (SI), K1, Y0
	VCVTPS2PD Y0, Z0        // x
	VMULPD    Z0, Z0, Z1    // s = x·x
	VMULPD    Z1, Z10, Z2   // P0·s
	VADDPD    Z11, Z2, Z2   // + P1
	VMULPD    Z1, Z2, Z2    // ·s
	VADDPD    Z12, Z2, Z2   // + P2
	VADDPD    Z13, Z1, Z3   // s + Q0
	VMULPD    Z1, Z3, Z3    // ·s
	VADDPD    Z14, Z3, Z3   // + Q1
	VMULPD    Z1, Z3, Z3    // ·s
	VADDPD    Z15, Z3, Z3   // + Q2
	VMULPD    Z1, Z0, Z4    // x·s
	VMULPD    Z2, Z4, Z4    // ·P
	VDIVPD    Z3, Z4, Z4    // /Q
	VADDPD    Z4, Z0, Z4    // x + 
	VCVTPD2PS Z4, Y4
	VMOVUPS   Y4, K1, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       trLoop

trDone:
	VZEROUPPER
	RET
