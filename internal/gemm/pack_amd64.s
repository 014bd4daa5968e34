//go:build amd64

#include "textflag.h"

// func copyPanelsAVX512(d, src *float32, n, ld, ldd int, masks uint64)
//
// For i < n: copies up to 32 floats from src + i*ld bytes to d + i*ldd
// bytes. masks holds four 16-bit lane masks, low to high: the floats
// read at 0 and 64 bytes (the rest load as zero) and those stored at 0
// and 64 bytes. Masked-off lanes are neither read nor written.
TEXT ·copyPanelsAVX512(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ ld+24(FP), R8
	MOVQ ldd+32(FP), R9
	MOVQ masks+40(FP), DX
	KMOVW DX, K1
	SHRQ $16, DX
	KMOVW DX, K2
	SHRQ $16, DX
	KMOVW DX, K3
	SHRQ $16, DX
	KMOVW DX, K4
	TESTQ CX, CX
	JEQ done
loop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNE loop
done:
	VZEROUPPER
	RET
