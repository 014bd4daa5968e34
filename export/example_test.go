package export_test

import (
	"fmt"

	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// Freeze an XNOR-Net LeNet-5 (first and last layers full precision) and
// run the packed engine; each conv and dense layer reports its kernel.
func Example() {
	m, err := models.New(models.Spec{Name: "lenet5", Weights: ste.XNOR{}, Inputs: ste.Sign{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	bm, err := export.Freeze(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range bm.Report() {
		if r.Kernel != "" {
			fmt.Println(r.Name, r.Kernel, r.Weights, r.Input)
		}
	}
	logits, err := bm.Predict(make([]float32, 28*28), 1)
	fmt.Println(len(logits), err)
	// Output:
	// conv1 float f32 fp
	// conv5 xnor sign sign
	// dense10 xnor sign sign
	// dense13 float f32 fp
	// 10 <nil>
}
