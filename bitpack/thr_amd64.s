//go:build amd64

#include "textflag.h"

// func thrBits32(d, thr *int32) uint32
// Bit j (j < 32) is set when d[j] < thr[j] (signed): thrBits on 32 lanes.
TEXT ·thrBits32(SB), NOSPLIT, $0-20
	MOVQ d+0(FP), AX
	MOVQ thr+8(FP), BX
	VMOVDQU32 (AX), Z0
	VMOVDQU32 64(AX), Z1
	VPCMPD $1, (BX), Z0, K1
	VPCMPD $1, 64(BX), Z1, K2
	KMOVW K1, AX
	KMOVW K2, BX
	SHLL $16, BX
	ORL BX, AX
	MOVL AX, ret+16(FP)
	VZEROUPPER
	RET
