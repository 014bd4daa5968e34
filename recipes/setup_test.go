package recipes

import (
	"strings"
	"testing"

	"github.com/lowbit/lowbit/optim"
)

// TestSetupApply checks that a named setup replaces the recipe's training
// settings and keeps its quantizers, and refuses datasets it is not made for.
func TestSetupApply(t *testing.T) {
	for _, tc := range []struct {
		setup, recipe, dataset string
		wantErr                string
	}{
		{"cifar", "fp", "cifar10", ""},
		{"cifar", "lsq-w4a4", "cifar100", ""},
		{"cifar", "fp", "mnist", "made for cifar10, cifar100"},
		{"cifar", "fp", "", "not dataset mnist"},
		{"nope", "fp", "cifar10", `unknown setup "nope"`},
	} {
		t.Run(tc.setup+"/"+tc.recipe+"/"+tc.dataset, func(t *testing.T) {
			r, err := Lookup(tc.recipe)
			if err != nil {
				t.Fatal(err)
			}
			c := r.Config("resnet20", tc.dataset)
			c.Warmup, c.FinalLR = 10, 1 // not the setup's: cleared
			s, err := LookupSetup(tc.setup)
			if err == nil {
				err = s.Apply(&c)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := optim.Config{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}
			if c.Optimizer != "sgd" || c.Opt != want || c.LR != 0.1 || c.Schedule != Cosine || c.Batch != 128 || c.Epochs != 15 || c.Warmup != 0 || c.FinalLR != 0 {
				t.Errorf("config after the setup: %+v", c)
			}
			if c.Recipe != tc.recipe || c.Model.Weights != r.Weights || c.Model.Inputs != r.Inputs {
				t.Errorf("the recipe's quantizers or name were lost: %+v", c.Model)
			}
		})
	}
	if got := Setups(); len(got) == 0 || got[0] != "cifar" {
		t.Errorf("Setups() = %v", got)
	}
}
