package bitpack_test

import (
	"fmt"

	"github.com/lowbit/lowbit/bitpack"
)

// Example packs ±1 activations and weights, runs the XNOR-popcount GEMM
// and folds a BatchNorm+sign into integer thresholds.
func Example() {
	// Two activation rows and three weight rows of K = 3 values;
	// x >= 0 packs as +1 (bit 0), x < 0 as −1 (bit 1).
	a, _ := bitpack.PackMatrix([]float32{
		1, -1, 0.5, // +1 −1 +1
		-2, -3, 0, // −1 −1 +1
	}, 2, 3)
	wm, _ := bitpack.PackMatrix([]float32{
		1, 1, 1,
		-1, 1, -1,
		1, -1, 1,
	}, 3, 3)
	w := bitpack.PackPanels(wm)
	out := make([]int32, 2*3)
	if err := bitpack.GEMM(out, a, w); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dots:", out)

	// y = 1·(dot − 1)/sqrt(1) + 0 for channel 0, and the same with
	// gamma = −1 for channel 1: sign(y) = (dot >= Thr) XOR Flip.
	th, _ := bitpack.FoldBN(bitpack.BNParams{
		Gamma: []float32{1, -1}, Beta: []float32{0, 0},
		Mean: []float32{1, 1}, Var: []float32{1, 1},
	})
	fmt.Println("thresholds:", th.Thr, "flip:", th.Flip)
	fmt.Println("signs at dot=1:", th.Sign(0, 1), th.Sign(1, 1))
	// Output:
	// dots: [1 -3 3 -1 -1 1]
	// thresholds: [1 2] flip: [false true]
	// signs at dot=1: 1 1
}
