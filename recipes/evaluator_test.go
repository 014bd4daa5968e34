package recipes

import (
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
)

// TestEvaluatorSeesUpdates checks that an Evaluator, which compiles its graph
// once and keeps it across epochs, gives exactly the accuracy and loss of a
// freshly compiled graph after the model has trained further (weights,
// BatchNorm statistics and quantizer steps updated in place).
func TestEvaluatorSeesUpdates(t *testing.T) {
	train, test := mnist(t, 256, 200)
	for _, name := range []string{"fp", "lsq-w4a4", "xnor"} {
		t.Run(name, func(t *testing.T) {
			r, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			spec := r.Config("lenet5", "mnist").Model
			if err := fitSpec(&spec, train); err != nil {
				t.Fatal(err)
			}
			spec.Seed = 5
			m, err := models.New(spec)
			if err != nil {
				t.Fatal(err)
			}
			var e Evaluator
			defer e.Close()
			var compiled *Net
			for round := range 3 {
				trainSteps(t, m, train, 4, uint64(round))
				got, gotLoss, err := e.Evaluate(m, test, 64, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				want, wantLoss, err := Evaluate(m, test, 64, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got != want || gotLoss != wantLoss {
					t.Errorf("round %d: kept graph gives acc %v loss %v, a fresh one %v %v", round, got, gotLoss, want, wantLoss)
				}
				if round > 0 && e.net != compiled {
					t.Errorf("round %d: the evaluation graph was compiled again", round)
				}
				compiled = e.net
			}
		})
	}
}

// trainSteps runs steps SGD steps of batch 32 on ds with a fresh training graph.
func trainSteps(t *testing.T, m *models.Model, ds datasets.Dataset, steps int, epoch uint64) {
	t.Helper()
	var step uint64
	tn, err := NewNet(m, 32, true, &step)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	opt, err := optim.New("sgd", optim.Config{Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	params := OptimParams(tn.Params())
	l, err := datasets.NewLoader(ds, datasets.LoaderConfig{Batch: 32, Shuffle: true, Seed: epoch, Workers: 1, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(int(epoch))
	defer it.Close()
	var b datasets.Batch
	for i := 0; i < steps && it.Next(&b); i++ {
		if err := tn.Run(b.X, b.Y, b.N); err != nil {
			t.Fatal(err)
		}
		for j, g := range tn.Grads() {
			params[j].Grad = g
		}
		if err := opt.Step(params, 0.05); err != nil {
			t.Fatal(err)
		}
		step++
	}
}
