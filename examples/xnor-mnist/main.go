// Command xnor-mnist trains an XNOR-Net-style LeNet-5 on MNIST with lowbit's
// public API: binary weights with one scale per output channel (α·sign(W)),
// binary activations (sign with a clipped STE), first and last layers in full
// precision, then prints the test accuracy.
//
//	go run ./examples/xnor-mnist -epochs 1
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

func main() {
	epochs := flag.Int("epochs", 3, "training epochs")
	steps := flag.Int("max-steps", 0, "stop after this many steps (0: whole epochs)")
	out := flag.String("out", "", "checkpoint path (optional)")
	flag.Parse()

	// The model: LeNet-5 whose hidden layers use XNOR weights and sign activations.
	spec := models.Spec{
		Name:    "lenet5",
		Weights: ste.XNOR{}, // α_o·sign(W), α_o = mean|W_o|
		Inputs:  ste.Sign{}, // sign(x), gradient 1{|x| ≤ 1}
		Policy:  models.FP,  // first and last layers stay fp32
		Seed:    1,
	}

	cfg := recipes.Config{
		Model:      spec,
		Dataset:    "mnist", // found in the Go module cache, $LOWBIT_DATA or -data
		Epochs:     *epochs,
		Batch:      64,
		LR:         1e-3, // Adam with a cosine decay (the defaults)
		LatentClip: 1,    // keep latent binary weights in [-1, 1]
		Seed:       1,
		MaxSteps:   *steps,
		Out:        *out,
		OnEpoch: func(e recipes.EpochStats) {
			fmt.Printf("epoch %d/%d: train loss %.4f, test accuracy %.2f%%, %.1f ms/step, flip ratio %.4f\n",
				e.Epoch, e.Epochs, e.TrainLoss, 100*e.TestAcc, float64(e.StepTime.Microseconds())/1e3, e.FlipRatio)
		},
	}
	res, err := recipes.Train(context.Background(), cfg)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	fmt.Printf("%s: test accuracy %.2f%%\n", res.Model.Spec, 100*res.TestAcc)
}
