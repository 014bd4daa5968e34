//go:build amd64

#include "textflag.h"

// Accumulators: Z16..Z31. Weights of one word: Z0..Z3 (32 lanes).

#define XROW(A, T0, T1, T2, T3, C0, C1, C2, C3) \
	VPXORQ Z0, A, T0; \
	VPXORQ Z1, A, T1; \
	VPXORQ Z2, A, T2; \
	VPXORQ Z3, A, T3; \
	VPOPCNTQ T0, T0; \
	VPOPCNTQ T1, T1; \
	VPOPCNTQ T2, T2; \
	VPOPCNTQ T3, T3; \
	VPADDQ T0, C0, C0; \
	VPADDQ T1, C1, C1; \
	VPADDQ T2, C2, C2; \
	VPADDQ T3, C3, C3

#define ZERO16 \
	VPXORQ Z16, Z16, Z16; \
	VPXORQ Z17, Z17, Z17; \
	VPXORQ Z18, Z18, Z18; \
	VPXORQ Z19, Z19, Z19; \
	VPXORQ Z20, Z20, Z20; \
	VPXORQ Z21, Z21, Z21; \
	VPXORQ Z22, Z22, Z22; \
	VPXORQ Z23, Z23, Z23; \
	VPXORQ Z24, Z24, Z24; \
	VPXORQ Z25, Z25, Z25; \
	VPXORQ Z26, Z26, Z26; \
	VPXORQ Z27, Z27, Z27; \
	VPXORQ Z28, Z28, Z28; \
	VPXORQ Z29, Z29, Z29; \
	VPXORQ Z30, Z30, Z30; \
	VPXORQ Z31, Z31, Z31

// XNOR main loop over CX words; rows R8..R11, weights DI, offset BX.
#define XNORLOOP \
	XORQ BX, BX; \
	ZERO16; \
xloop: \
	VMOVDQU64 (DI), Z0; \
	VMOVDQU64 64(DI), Z1; \
	VMOVDQU64 128(DI), Z2; \
	VMOVDQU64 192(DI), Z3; \
	VPBROADCASTQ (R8)(BX*1), Z4; \
	VPBROADCASTQ (R9)(BX*1), Z5; \
	VPBROADCASTQ (R10)(BX*1), Z6; \
	VPBROADCASTQ (R11)(BX*1), Z7; \
	XROW(Z4, Z8, Z9, Z10, Z11, Z16, Z17, Z18, Z19); \
	XROW(Z5, Z12, Z13, Z14, Z15, Z20, Z21, Z22, Z23); \
	XROW(Z6, Z8, Z9, Z10, Z11, Z24, Z25, Z26, Z27); \
	XROW(Z7, Z12, Z13, Z14, Z15, Z28, Z29, Z30, Z31); \
	ADDQ $8, BX; \
	ADDQ $256, DI; \
	DECQ CX; \
	JNZ xloop

// dot = K − 2·pop, narrowed to int32 and stored at off(DX).
#define XSTORE(C, off) \
	VPSLLQ $1, C, C; \
	VPSUBQ C, Z0, C; \
	VPMOVQD C, off(DX)

// func xnor4x32(a0, a1, a2, a3, w *uint64, words int, out *int32, ldo, k int)
TEXT ·xnor4x32(SB), NOSPLIT, $0-72
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ a2+16(FP), R10
	MOVQ a3+24(FP), R11
	MOVQ w+32(FP), DI
	MOVQ words+40(FP), CX
	MOVQ out+48(FP), DX
	MOVQ ldo+56(FP), SI
	SHLQ $2, SI
	XNORLOOP
	MOVQ k+64(FP), AX
	VPBROADCASTQ AX, Z0
	XSTORE(Z16, 0)
	XSTORE(Z17, 32)
	XSTORE(Z18, 64)
	XSTORE(Z19, 96)
	ADDQ SI, DX
	XSTORE(Z20, 0)
	XSTORE(Z21, 32)
	XSTORE(Z22, 64)
	XSTORE(Z23, 96)
	ADDQ SI, DX
	XSTORE(Z24, 0)
	XSTORE(Z25, 32)
	XSTORE(Z26, 64)
	XSTORE(Z27, 96)
	ADDQ SI, DX
	XSTORE(Z28, 0)
	XSTORE(Z29, 32)
	XSTORE(Z30, 64)
	XSTORE(Z31, 96)
	VZEROUPPER
	RET

// Threshold one row: 32 mask bits (pop > thr) XOR flip → uint32 at (DX).
#define TROW(C0, C1, C2, C3) \
	VPCMPQ $6, Z0, C0, K1; \
	VPCMPQ $6, Z1, C1, K2; \
	VPCMPQ $6, Z2, C2, K3; \
	VPCMPQ $6, Z3, C3, K4; \
	KMOVW K1, AX; \
	KMOVW K2, R12; \
	KMOVW K3, R13; \
	KMOVW K4, R14; \
	SHLL $8, R12; \
	SHLL $16, R13; \
	SHLL $24, R14; \
	ORL R12, AX; \
	ORL R13, AX; \
	ORL R14, AX; \
	XORL R15, AX; \
	MOVL AX, (DX)

// func xnor4x32thr(a0, a1, a2, a3, w *uint64, words int, out *uint32, ldo int, thr *int64, flip uint32)
TEXT ·xnor4x32thr(SB), NOSPLIT, $0-76
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ a2+16(FP), R10
	MOVQ a3+24(FP), R11
	MOVQ w+32(FP), DI
	MOVQ words+40(FP), CX
	MOVQ out+48(FP), DX
	MOVQ ldo+56(FP), SI
	XNORLOOP
	MOVQ thr+64(FP), AX
	VMOVDQU64 (AX), Z0
	VMOVDQU64 64(AX), Z1
	VMOVDQU64 128(AX), Z2
	VMOVDQU64 192(AX), Z3
	MOVL flip+72(FP), R15
	TROW(Z16, Z17, Z18, Z19)
	ADDQ SI, DX
	TROW(Z20, Z21, Z22, Z23)
	ADDQ SI, DX
	TROW(Z24, Z25, Z26, Z27)
	ADDQ SI, DX
	TROW(Z28, Z29, Z30, Z31)
	VZEROUPPER
	RET

// Bit-serial: per row two broadcast planes P0, P1; accumulators per plane.
#define AROW(P0, P1, C0, C1, C2, C3, D0, D1, D2, D3) \
	VPANDQ Z0, P0, Z8; \
	VPANDQ Z1, P0, Z9; \
	VPANDQ Z2, P0, Z10; \
	VPANDQ Z3, P0, Z11; \
	VPANDQ Z0, P1, Z12; \
	VPANDQ Z1, P1, Z13; \
	VPANDQ Z2, P1, Z14; \
	VPANDQ Z3, P1, Z15; \
	VPOPCNTQ Z8, Z8; \
	VPOPCNTQ Z9, Z9; \
	VPOPCNTQ Z10, Z10; \
	VPOPCNTQ Z11, Z11; \
	VPOPCNTQ Z12, Z12; \
	VPOPCNTQ Z13, Z13; \
	VPOPCNTQ Z14, Z14; \
	VPOPCNTQ Z15, Z15; \
	VPADDQ Z8, C0, C0; \
	VPADDQ Z9, C1, C1; \
	VPADDQ Z10, C2, C2; \
	VPADDQ Z11, C3, C3; \
	VPADDQ Z12, D0, D0; \
	VPADDQ Z13, D1, D1; \
	VPADDQ Z14, D2, D2; \
	VPADDQ Z15, D3, D3

// out = c1·(C + 2·D) + base, base in Z7 (qwords) or loaded from (DX+off).
#define ASTORE(C, D, off) \
	VPSLLQ $1, D, D; \
	VPADDQ D, C, C; \
	VPMULDQ Z6, C, C; \
	TESTQ R12, R12; \
	JZ 2(PC); \
	VPMOVSXDQ off(DX), Z7; \
	VPADDQ Z7, C, C; \
	VPMOVQD C, off(DX)

// func and2x32(a0, a1, w *uint64, words int, out *int32, ldo, c1, off0, off1, acc int)
TEXT ·and2x32(SB), NOSPLIT, $0-80
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ w+16(FP), DI
	MOVQ words+24(FP), CX
	MOVQ out+32(FP), DX
	MOVQ ldo+40(FP), SI
	SHLQ $2, SI
	XORQ BX, BX
	ZERO16
aloop:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 64(DI), Z1
	VMOVDQU64 128(DI), Z2
	VMOVDQU64 192(DI), Z3
	VPBROADCASTQ (R8)(BX*1), Z4
	VPBROADCASTQ 8(R8)(BX*1), Z5
	VPBROADCASTQ (R9)(BX*1), Z6
	VPBROADCASTQ 8(R9)(BX*1), Z7
	AROW(Z4, Z5, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	AROW(Z6, Z7, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)
	ADDQ $16, BX
	ADDQ $256, DI
	DECQ CX
	JNZ aloop
	MOVQ c1+48(FP), AX
	VPBROADCASTQ AX, Z6
	MOVQ acc+72(FP), R12
	MOVQ off0+56(FP), AX
	VPBROADCASTQ AX, Z7
	ASTORE(Z16, Z20, 0)
	ASTORE(Z17, Z21, 32)
	ASTORE(Z18, Z22, 64)
	ASTORE(Z19, Z23, 96)
	ADDQ SI, DX
	MOVQ off1+64(FP), AX
	VPBROADCASTQ AX, Z7
	ASTORE(Z24, Z28, 0)
	ASTORE(Z25, Z29, 32)
	ASTORE(Z26, Z30, 64)
	ASTORE(Z27, Z31, 96)
	VZEROUPPER
	RET

#define VROW(A, C0, C1, C2, C3) \
	VPDPBUSD Z0, A, C0; \
	VPDPBUSD Z1, A, C1; \
	VPDPBUSD Z2, A, C2; \
	VPDPBUSD Z3, A, C3

#define VSTORE4(C0, C1, C2, C3) \
	VMOVDQU32 C0, (DX); \
	VMOVDQU32 C1, 64(DX); \
	VMOVDQU32 C2, 128(DX); \
	VMOVDQU32 C3, 192(DX)

// func vnni4x64(a0, a1, a2, a3 *uint8, w *int8, groups int, out *int32, ldo int)
TEXT ·vnni4x64(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ a2+16(FP), R10
	MOVQ a3+24(FP), R11
	MOVQ w+32(FP), DI
	MOVQ groups+40(FP), CX
	MOVQ out+48(FP), DX
	MOVQ ldo+56(FP), SI
	SHLQ $2, SI
	XORQ BX, BX
	ZERO16
vloop:
	VMOVDQU32 (DI), Z0
	VMOVDQU32 64(DI), Z1
	VMOVDQU32 128(DI), Z2
	VMOVDQU32 192(DI), Z3
	VPBROADCASTD (R8)(BX*1), Z4
	VPBROADCASTD (R9)(BX*1), Z5
	VPBROADCASTD (R10)(BX*1), Z6
	VPBROADCASTD (R11)(BX*1), Z7
	VROW(Z4, Z16, Z17, Z18, Z19)
	VROW(Z5, Z20, Z21, Z22, Z23)
	VROW(Z6, Z24, Z25, Z26, Z27)
	VROW(Z7, Z28, Z29, Z30, Z31)
	ADDQ $4, BX
	ADDQ $256, DI
	DECQ CX
	JNZ vloop
	VSTORE4(Z16, Z17, Z18, Z19)
	ADDQ SI, DX
	VSTORE4(Z20, Z21, Z22, Z23)
	ADDQ SI, DX
	VSTORE4(Z24, Z25, Z26, Z27)
	ADDQ SI, DX
	VSTORE4(Z28, Z29, Z30, Z31)
	VZEROUPPER
	RET

// Implicit (indirect) GEMM: the 4 rows of a tile are segs segments of
// segWords words each, at the pointers ptrs[s*4+i] (row i of segment s),
// read in turn against consecutive weight words; the im2col matrix is
// never built. Pointers R12, segments R13, segment words R14.
#define XNORIND \
	ZERO16; \
segloop: \
	MOVQ 0(R12), R8; \
	MOVQ 8(R12), R9; \
	MOVQ 16(R12), R10; \
	MOVQ 24(R12), R11; \
	MOVQ R14, CX; \
	XORQ BX, BX; \
indloop: \
	VMOVDQU64 (DI), Z0; \
	VMOVDQU64 64(DI), Z1; \
	VMOVDQU64 128(DI), Z2; \
	VMOVDQU64 192(DI), Z3; \
	VPBROADCASTQ (R8)(BX*1), Z4; \
	VPBROADCASTQ (R9)(BX*1), Z5; \
	VPBROADCASTQ (R10)(BX*1), Z6; \
	VPBROADCASTQ (R11)(BX*1), Z7; \
	XROW(Z4, Z8, Z9, Z10, Z11, Z16, Z17, Z18, Z19); \
	XROW(Z5, Z12, Z13, Z14, Z15, Z20, Z21, Z22, Z23); \
	XROW(Z6, Z8, Z9, Z10, Z11, Z24, Z25, Z26, Z27); \
	XROW(Z7, Z12, Z13, Z14, Z15, Z28, Z29, Z30, Z31); \
	ADDQ $8, BX; \
	ADDQ $256, DI; \
	DECQ CX; \
	JNZ indloop; \
	ADDQ $32, R12; \
	DECQ R13; \
	JNZ segloop

// func xnor4x32ind(ptrs **uint64, segs, segWords int, w *uint64, out *int32, ldo, k int)
TEXT ·xnor4x32ind(SB), NOSPLIT, $0-56
	MOVQ ptrs+0(FP), R12
	MOVQ segs+8(FP), R13
	MOVQ segWords+16(FP), R14
	MOVQ w+24(FP), DI
	MOVQ out+32(FP), DX
	MOVQ ldo+40(FP), SI
	SHLQ $2, SI
	XNORIND
	MOVQ k+48(FP), AX
	VPBROADCASTQ AX, Z0
	XSTORE(Z16, 0)
	XSTORE(Z17, 32)
	XSTORE(Z18, 64)
	XSTORE(Z19, 96)
	ADDQ SI, DX
	XSTORE(Z20, 0)
	XSTORE(Z21, 32)
	XSTORE(Z22, 64)
	XSTORE(Z23, 96)
	ADDQ SI, DX
	XSTORE(Z24, 0)
	XSTORE(Z25, 32)
	XSTORE(Z26, 64)
	XSTORE(Z27, 96)
	ADDQ SI, DX
	XSTORE(Z28, 0)
	XSTORE(Z29, 32)
	XSTORE(Z30, 64)
	XSTORE(Z31, 96)
	VZEROUPPER
	RET

// func xnor4x32indthr(ptrs **uint64, segs, segWords int, w *uint64, out *uint32, ldo int, thr *int64, flip uint32)
TEXT ·xnor4x32indthr(SB), NOSPLIT, $0-60
	MOVQ ptrs+0(FP), R12
	MOVQ segs+8(FP), R13
	MOVQ segWords+16(FP), R14
	MOVQ w+24(FP), DI
	MOVQ out+32(FP), DX
	MOVQ ldo+40(FP), SI
	XNORIND
	MOVQ thr+48(FP), AX
	VMOVDQU64 (AX), Z0
	VMOVDQU64 64(AX), Z1
	VMOVDQU64 128(AX), Z2
	VMOVDQU64 192(AX), Z3
	MOVL flip+56(FP), R15
	TROW(Z16, Z17, Z18, Z19)
	ADDQ SI, DX
	TROW(Z20, Z21, Z22, Z23)
	ADDQ SI, DX
	TROW(Z24, Z25, Z26, Z27)
	ADDQ SI, DX
	TROW(Z28, Z29, Z30, Z31)
	VZEROUPPER
	RET
