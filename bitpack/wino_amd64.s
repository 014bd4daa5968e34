#include "textflag.h"

// Winograd F(2×2, 3×3) transforms for the int8 path (wino.go).

// Row step of V = Bᵀ·d·B for column j: t0 = d0 − d2, t1 = d1 + d2,
// t2 = d2 − d1, t3 = d1 − d3 (d_i = row i in Z(4i+j), t_a in Z(16+4a+j)).
#define WROW(D0, D1, D2, D3, T0, T1, T2, T3) \
	VPSUBB D2, D0, T0; \
	VPADDB D2, D1, T1; \
	VPSUBB D1, D2, T2; \
	VPSUBB D3, D1, T3

// Column step for row a of t, plus z (Z15), stored to 4 consecutive e
// planes at R14 (advanced by R10 per plane).
#define WCOL(T0, T1, T2, T3) \
	VPSUBB T2, T0, Z0; \
	VPADDB T2, T1, Z1; \
	VPSUBB T1, T2, Z2; \
	VPSUBB T3, T1, Z3; \
	VPADDB Z15, Z0, Z0; \
	VPADDB Z15, Z1, Z1; \
	VPADDB Z15, Z2, Z2; \
	VPADDB Z15, Z3, Z3; \
	VMOVDQU8 Z0, (R14); \
	ADDQ R10, R14; \
	VMOVDQU8 Z1, (R14); \
	ADDQ R10, R14; \
	VMOVDQU8 Z2, (R14); \
	ADDQ R10, R14; \
	VMOVDQU8 Z3, (R14); \
	ADDQ R10, R14

// Loads the 4 pixels of one patch row at R12 (pixel stride R9, R13 = 3·R9).
#define WLOAD(D0, D1, D2, D3) \
	VMOVDQU8 (R12), D0; \
	VMOVDQU8 (R12)(R9*1), D1; \
	VMOVDQU8 (R12)(R9*2), D2; \
	VMOVDQU8 (R12)(R13*1), D3; \
	ADDQ R8, R12

// func winoIn(src *uint8, ld, c int, dst *uint8, es, ts, ntiles, z int)
// For tiles t < ntiles along a row (patch t at src + 2·t·c, rows ld bytes
// apart, pixels c bytes apart, c a multiple of 64): dst[e·es + t·ts + ch] =
// uint8((Bᵀ·d·B)[e] + z), in wrapping byte arithmetic (exact when the
// true value lies in [0, 255]).
TEXT ·winoIn(SB), NOSPLIT, $0-64
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	MOVQ c+16(FP), R9
	MOVQ dst+24(FP), DI
	MOVQ es+32(FP), R10
	MOVQ ts+40(FP), R15
	MOVQ ntiles+48(FP), R11
	MOVQ z+56(FP), AX
	LEAQ (R9)(R9*2), R13
	TESTQ R11, R11
	JZ wi_done

wi_tile:
	MOVQ SI, BX
	MOVQ DI, DX
	MOVQ R9, CX
	SHRQ $6, CX

wi_chunk:
	MOVQ BX, R12
	WLOAD(Z0, Z1, Z2, Z3)
	WLOAD(Z4, Z5, Z6, Z7)
	WLOAD(Z8, Z9, Z10, Z11)
	WLOAD(Z12, Z13, Z14, Z15)
	WROW(Z0, Z4, Z8, Z12, Z16, Z20, Z24, Z28)
	WROW(Z1, Z5, Z9, Z13, Z17, Z21, Z25, Z29)
	WROW(Z2, Z6, Z10, Z14, Z18, Z22, Z26, Z30)
	WROW(Z3, Z7, Z11, Z15, Z19, Z23, Z27, Z31)
	VPBROADCASTB AX, Z15
	MOVQ DX, R14
	WCOL(Z16, Z17, Z18, Z19)
	WCOL(Z20, Z21, Z22, Z23)
	WCOL(Z24, Z25, Z26, Z27)
	WCOL(Z28, Z29, Z30, Z31)
	ADDQ $64, BX
	ADDQ $64, DX
	DECQ CX
	JNZ wi_chunk

	LEAQ (SI)(R9*2), SI
	ADDQ R15, DI
	DECQ R11
	JNZ wi_tile

wi_done:
	VZEROUPPER
	RET

// Loads M[e] for 4 consecutive e (planes R8 bytes apart) from R12.
#define MLOAD(M0, M1, M2, M3) \
	VMOVDQU32 (R12), M0; \
	ADDQ R8, R12; \
	VMOVDQU32 (R12), M1; \
	ADDQ R8, R12; \
	VMOVDQU32 (R12), M2; \
	ADDQ R8, R12; \
	VMOVDQU32 (R12), M3; \
	ADDQ R8, R12

// func winoOut(m *int32, es, ts int, corr *int32, d0, d1 *int32, c, ntiles int)
// For tiles t < ntiles (products M[e] at m + e·es + t·ts bytes, c
// a multiple of 16): Y = Aᵀ·M·A, then (Y[i][j] − corr[(2i+j)·c + o]) >> 2
// stored at d_i[(2t+j)·c + o].
TEXT ·winoOut(SB), NOSPLIT, $0-64
	MOVQ m+0(FP), SI
	MOVQ es+8(FP), R8
	MOVQ corr+24(FP), DX
	MOVQ d0+32(FP), DI
	MOVQ d1+40(FP), R9
	MOVQ c+48(FP), R10
	SHLQ $2, R10
	MOVQ ntiles+56(FP), R11
	LEAQ (DX)(R10*1), R13
	LEAQ (R13)(R10*1), R14
	LEAQ (R14)(R10*1), R15
	TESTQ R11, R11
	JZ wo_done

wo_tile:
	LEAQ (DI)(R10*1), AX
	LEAQ (R9)(R10*1), CX
	XORQ BX, BX

wo_chunk:
	LEAQ (SI)(BX*1), R12
	MLOAD(Z0, Z1, Z2, Z3)
	MLOAD(Z4, Z5, Z6, Z7)
	MLOAD(Z8, Z9, Z10, Z11)
	MLOAD(Z12, Z13, Z14, Z15)
	// s0b = M0b + M1b + M2b, s1b = M1b − M2b − M3b
	VPADDD Z4, Z0, Z16
	VPADDD Z8, Z16, Z16
	VPADDD Z5, Z1, Z17
	VPADDD Z9, Z17, Z17
	VPADDD Z6, Z2, Z18
	VPADDD Z10, Z18, Z18
	VPADDD Z7, Z3, Z19
	VPADDD Z11, Z19, Z19
	VPSUBD Z8, Z4, Z20
	VPSUBD Z12, Z20, Z20
	VPSUBD Z9, Z5, Z21
	VPSUBD Z13, Z21, Z21
	VPSUBD Z10, Z6, Z22
	VPSUBD Z14, Z22, Z22
	VPSUBD Z11, Z7, Z23
	VPSUBD Z15, Z23, Z23
	// Yi0 = si0 + si1 + si2, Yi1 = si1 − si2 − si3
	VPADDD Z17, Z16, Z24
	VPADDD Z18, Z24, Z24
	VPSUBD Z18, Z17, Z25
	VPSUBD Z19, Z25, Z25
	VPADDD Z21, Z20, Z26
	VPADDD Z22, Z26, Z26
	VPSUBD Z22, Z21, Z27
	VPSUBD Z23, Z27, Z27
	VPSUBD (DX)(BX*1), Z24, Z24
	VPSUBD (R13)(BX*1), Z25, Z25
	VPSUBD (R14)(BX*1), Z26, Z26
	VPSUBD (R15)(BX*1), Z27, Z27
	VPSRAD $2, Z24, Z24
	VPSRAD $2, Z25, Z25
	VPSRAD $2, Z26, Z26
	VPSRAD $2, Z27, Z27
	VMOVDQU32 Z24, (DI)(BX*1)
	VMOVDQU32 Z25, (AX)(BX*1)
	VMOVDQU32 Z26, (R9)(BX*1)
	VMOVDQU32 Z27, (CX)(BX*1)
	ADDQ $64, BX
	CMPQ BX, R10
	JLT wo_chunk

	ADDQ ts+16(FP), SI
	LEAQ (DI)(R10*2), DI
	LEAQ (R9)(R10*2), R9
	DECQ R11
	JNZ wo_tile

wo_done:
	VZEROUPPER
	RET
