package optim_test

import (
	"fmt"

	"github.com/lowbit/lowbit/optim"
)

// A BNN-style loop: SGD on latent weights, latent clipping to [−1, 1], a
// warmup schedule, and the share of binary weights that flipped sign.
func Example() {
	w := &optim.Param{Name: "fc.w", Data: []float32{0.5, -0.2}, Kind: optim.Weight, Binary: true}
	b := &optim.Param{Name: "fc.b", Data: []float32{0}, Kind: optim.Bias}
	params := []*optim.Param{w, b}

	opt, err := optim.New("sgd", optim.Config{Momentum: 0.5, WeightDecay: 0.1})
	if err != nil {
		fmt.Println(err)
		return
	}
	sched := optim.Warmup{Steps: 2, Then: optim.Constant(0.5)}
	var flips optim.FlipCounter
	flips.Snapshot(params)

	for step := range 3 {
		w.Grad = []float32{1, -2} // pushes w[0] down and w[1] up
		b.Grad = []float32{0.5}
		lr := sched.LR(step, 3)
		if err := opt.Step(params, lr); err != nil {
			fmt.Println(err)
			return
		}
		if err := optim.ClipLatent(params, 1); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("step %d lr=%.2f w=%.3f b=%.3f\n", step, lr, w.Data, b.Data)
	}
	ratio, err := flips.Ratio(params)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(opt, sched)
	fmt.Printf("flip ratio %.2f\n", ratio)
	// Output:
	// step 0 lr=0.25 w=[0.238 0.305] b=[-0.125]
	// step 1 lr=0.50 w=[-0.537 1.000] b=[-0.500]
	// step 2 lr=0.50 w=[-1.000 1.000] b=[-0.938]
	// sgd(momentum=0.5,wd=0.1) warmup(steps=2,then=constant(lr=0.5))
	// flip ratio 1.00
}

// Bop flips a ±1 weight once the moving average of its gradient agrees with
// its sign by more than the threshold; other parameters go to Inner.
func ExampleBop() {
	w := &optim.Param{Name: "conv.w", Data: []float32{1, 1, -1}, Binary: true}
	s := &optim.Param{Name: "bn.scale", Data: []float32{1}, Kind: optim.BNScale}
	opt := &optim.Bop{Gamma: 0.5, Threshold: 0.1, Inner: &optim.SGD{}}
	for step := range 2 {
		w.Grad = []float32{0.3, -0.3, 0.1}
		s.Grad = []float32{0.5}
		if err := opt.Step([]*optim.Param{w, s}, 0.1); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("step %d w=%v scale=%.2f\n", step, w.Data, s.Data[0])
	}
	// Output:
	// step 0 w=[-1 1 -1] scale=0.95
	// step 1 w=[-1 1 -1] scale=0.90
}
