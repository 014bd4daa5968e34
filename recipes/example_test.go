package recipes_test

import (
	"context"
	"fmt"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// Train a 4-bit LSQ MLP on real MNIST for 200 steps and check it learned.
func Example() {
	res, err := recipes.Train(context.Background(), recipes.Config{
		Model:     models.Spec{Name: "mlp", Hidden: []int{128}, Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}, Seed: 1},
		Dataset:   "mnist",
		Epochs:    1,
		MaxSteps:  200,
		EvalLimit: 2000,
		Seed:      1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Model.Spec)
	fmt.Println("steps:", res.Steps)
	fmt.Println("learned (accuracy > 85%):", res.TestAcc > 0.85)
	// Output:
	// mlp w=lsq(bits=4) a=lsq(bits=4) first/last=fp
	// steps: 200
	// learned (accuracy > 85%): true
}
