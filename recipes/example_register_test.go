package recipes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// A model defined in a user's program: register its builder once, at init,
// and Train, checkpoints and every lowbit verb built into the same program
// can use it by name (a checkpoint stores the name and rebuilds the model
// through the registry).
func init() {
	models.Register("tinynet", "a user's 2-layer CNN", []int{28, 28, 1}, 10, func(s models.Spec, b *models.Build) (*layers.Sequential, error) {
		b.Conv(8, 3, 1, 1, models.First)
		b.BN()
		b.Act()
		b.MaxPool(2, 2)
		b.Flatten()
		b.Dense(s.Classes, models.Last)
		return b.Seq()
	})
}

// Train a model registered by the program itself, then restore it from its checkpoint.
func ExampleTrain_registeredModel() {
	dir, err := os.MkdirTemp("", "tinynet")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ckpt := filepath.Join(dir, "tinynet.ckpt")
	_, err = recipes.Train(context.Background(), recipes.Config{
		Model:   models.Spec{Name: "tinynet", Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}, Seed: 1},
		Dataset: "mnist", Epochs: 1, MaxSteps: 20, EvalLimit: 500, Seed: 1, Out: ckpt,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ck, err := recipes.LoadCheckpoint(ckpt)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := ck.Restore()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Spec.Name, ste.SpecOf(m.Spec.Weights))
	// Output:
	// tinynet lsq(bits=4)
}
