package recipes

import (
	"context"
	"encoding/json"
	"math"
	"testing"
)

// TestEveryRecipeLearns runs every registered recipe for a few dozen steps on real
// MNIST: the loss must stay finite and fall, and test accuracy must beat chance.
func TestEveryRecipeLearns(t *testing.T) {
	train, test := mnist(t, 0, 1000)
	for _, name := range Recipes() {
		t.Run(name, func(t *testing.T) {
			r, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := r.Config("", "mnist")
			cfg.Train, cfg.Test, cfg.MaxSteps, cfg.Epochs, cfg.Seed = train, test, 80, 1, 5
			var losses []float32
			cfg.OnStep = func(s StepStats) { losses = append(losses, s.Loss) }
			res, err := Train(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range losses {
				if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
					t.Fatalf("step %d: loss %v", i+1, l)
				}
			}
			var tail float64
			for _, l := range losses[len(losses)-10:] {
				tail += float64(l) / 10
			}
			t.Logf("%s: loss %.3f → %.3f, test acc %.3f", name, losses[0], tail, res.TestAcc)
			if tail >= float64(losses[0]) {
				t.Errorf("loss did not fall: first %.3f, last-10 mean %.3f", losses[0], tail)
			}
			if res.TestAcc < 0.3 {
				t.Errorf("test accuracy %.3f after %d steps: no learning", res.TestAcc, res.Steps)
			}
		})
	}
}

func TestRecipeJSON(t *testing.T) {
	r, err := Lookup("xnor")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["weights"] != "xnor" || got["inputs"] != "sign" || got["name"] != "xnor" {
		t.Errorf("json %s", b)
	}
	if _, err := Lookup("no-such-recipe"); err == nil {
		t.Error("unknown recipe: no error")
	}
}
