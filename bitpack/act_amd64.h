// Activations shared by ew_amd64.s and intepi_amd64.s, on Z0 with the
// constants ACTCONSTS loads: Z1 = −1, Z2 = 1, Z3 = 0 (see hardTanhRowAVX
// and reluRowAVX); R selects: 1 HardTanh, 2 ReLU, else none.

#define ACT(R, LRELU, LDONE) \
	CMPQ R, $1; \
	JNE  LRELU; \
	VMAXPS Z0, Z1, Z0; \
	VMINPS Z0, Z2, Z0; \
	JMP  LDONE; \
LRELU: \
	CMPQ R, $2; \
	JNE  LDONE; \
	VMAXPS Z0, Z3, Z0; \
	VADDPS Z3, Z0, Z0; \
LDONE:

#define ACTCONSTS \
	MOVL         $0xBF800000, AX; \
	VPBROADCASTD AX, Z1; \
	MOVL         $0x3F800000, AX; \
	VPBROADCASTD AX, Z2; \
	VXORPS       Z3, Z3, Z3
