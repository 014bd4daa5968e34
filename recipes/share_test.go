package recipes

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
)

// TestSharedBuffersExact trains every recipe for a few steps with shared op
// buffers and with one buffer per output, from the same weights, and checks
// that losses, logits, gradients and the evaluation graph's logits agree
// bit for bit: sharing memory between values that are never alive together
// must change nothing.
func TestSharedBuffersExact(t *testing.T) {
	for _, name := range Recipes() {
		for _, model := range []string{"lenet5", "resnet20"} {
			t.Run(name+"/"+model, func(t *testing.T) {
				r, err := Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				spec := r.Config(model, "").Model
				spec.Input, spec.Classes, spec.Seed = []int{32, 32, 3}, 10, 7
				if r.Model == "mlp" {
					t.Skip("an MLP recipe; the conv models are what sharing is for")
				}
				a, err := sharedRun(t, spec, true)
				if err != nil {
					t.Fatal(err)
				}
				b, err := sharedRun(t, spec, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(a) != len(b) {
					t.Fatalf("%d values shared, %d separate", len(a), len(b))
				}
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("value %d of %d: shared %v, separate %v", i, len(a), a[i], b[i])
					}
				}
			})
		}
	}
}

// sharedRun trains a fresh model of spec for 3 SGD steps on seeded random
// batches of 4 and returns every loss, logit and gradient, then the logits
// of an evaluation graph.
func sharedRun(t *testing.T, spec models.Spec, share bool) ([]float32, error) {
	t.Helper()
	defer func(old bool) { shareBuffers = old }(shareBuffers)
	shareBuffers = share
	m, err := models.New(spec)
	if err != nil {
		return nil, err
	}
	const batch = 4
	var step uint64
	tn, err := NewNet(m, batch, true, &step)
	if err != nil {
		return nil, err
	}
	defer tn.Close()
	if share && tn.Shared.Shared >= tn.Shared.Separate {
		t.Errorf("sharing planned %d floats for %d separate ones", tn.Shared.Shared, tn.Shared.Separate)
	}
	opt, err := optim.New("sgd", optim.Config{Momentum: 0.9})
	if err != nil {
		return nil, err
	}
	params := OptimParams(tn.Params())
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*32*32*3)
	y := make([]int32, batch)
	var out []float32
	for range 3 {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = int32(rng.IntN(10))
		}
		if err := tn.Run(x, y, batch); err != nil {
			return nil, err
		}
		out = append(append(out, tn.Loss()), tn.Logits()...)
		for j, g := range tn.Grads() {
			out = append(out, g...)
			params[j].Grad = g
		}
		if err := opt.Step(params, 0.01); err != nil {
			return nil, err
		}
		step++
	}
	en, err := NewNet(m, batch, false, nil)
	if err != nil {
		return nil, err
	}
	defer en.Close()
	if err := en.Run(x, y, batch); err != nil {
		return nil, err
	}
	return append(out, en.Logits()...), nil
}
