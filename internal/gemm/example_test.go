package gemm_test

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/gemm"
)

// A 1×1 convolution is a plain GEMM: each pixel's channels times the
// transposed filter matrix.
func Example() {
	s := gemm.ConvShape{N: 1, H: 1, W: 2, C: 3, KH: 1, KW: 1, StrideH: 1, StrideW: 1}
	x := []float32{
		1, 2, 3, // pixel (0,0)
		4, 5, 6, // pixel (0,1)
	}
	// Two output channels, OHWI: [2][1][1][3].
	w := []float32{
		1, 0, 0, // picks channel 0
		1, 1, 1, // sums the channels
	}
	col := make([]float32, s.ColLen())
	gemm.Im2col(s, x, col)

	pixels, kdim, outC := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C, 2
	out := make([]float32, pixels*outC)
	// out[pixels, outC] = col[pixels, kdim] × wᵀ, w stored outC×kdim.
	if err := gemm.Sgemm(false, true, pixels, outC, kdim, 1, col, kdim, w, kdim, 0, out, outC); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)

	// Sizes are checked, never trusted.
	err := gemm.Sgemm(false, false, 2, 2, 2, 1, x[:3], 2, x, 2, 0, out, 2)
	fmt.Println(err)
	// Output:
	// [1 6 4 15]
	// gemm: Sgemm: len(A)=3 < 4 for 2×2 with ld=2: gemm: bad shape
}
