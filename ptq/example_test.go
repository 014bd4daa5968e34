package ptq_test

import (
	"fmt"

	"github.com/lowbit/lowbit/ptq"
)

// The clip each data-derived method picks for a small tensor with one outlier, on an
// unsigned 2-bit grid (levels 0..3): the maximum keeps the outlier, the MSE clip
// trades it for resolution on the bulk.
func ExampleClipOf() {
	x := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 5}
	for _, m := range []ptq.Method{ptq.Max, ptq.Percentile, ptq.MSE} {
		c, err := ptq.ClipOf(m, x, ptq.Grid{Bits: 2}, 50)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-10v clip %g, step %g\n", m, c, c/3)
	}
	// Output:
	// max        clip 5, step 1.6666666
	// percentile clip 1, step 0.33333334
	// mse        clip 4, step 1.3333334
}
