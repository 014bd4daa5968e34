package recipes

import (
	"slices"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
)

// TestSpecWithMeta: a checkpoint from before the spec carried input
// metadata gets its dataset's; one that carries it keeps its own.
func TestSpecWithMeta(t *testing.T) {
	cases := []struct {
		name      string
		ck        Checkpoint
		mean, std []float32
		names     int
	}{
		{"old mnist", Checkpoint{Dataset: "mnist", Model: models.Spec{Input: []int{28, 28, 1}, Classes: 10}},
			[]float32{datasets.MNISTMean}, []float32{datasets.MNISTStd}, 10},
		{"old symmetric", Checkpoint{Dataset: "mnist", Config: RunConfig{Scaling: "symmetric"}, Model: models.Spec{Input: []int{28, 28, 1}, Classes: 10}},
			[]float32{0.5}, []float32{0.5}, 10},
		{"old cifar100", Checkpoint{Dataset: "cifar100", Model: models.Spec{Input: []int{32, 32, 3}, Classes: 100}},
			[]float32{0.4914, 0.4822, 0.4465}, []float32{0.2470, 0.2435, 0.2616}, 100},
		{"old imagefolder", Checkpoint{Dataset: "imagefolder", Model: models.Spec{Input: []int{64, 64, 3}, Classes: 3}},
			[]float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}, 0},
		{"new keeps its own", Checkpoint{Dataset: "mnist", Model: models.Spec{Input: []int{28, 28, 1}, Classes: 10, Mean: []float32{0.2}, Std: []float32{0.4}}},
			[]float32{0.2}, []float32{0.4}, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.ck.specWithMeta()
			if !slices.Equal(s.Mean, tc.mean) || !slices.Equal(s.Std, tc.std) || len(s.ClassNames) != tc.names {
				t.Fatalf("mean %v std %v, %d names; want %v %v %d", s.Mean, s.Std, len(s.ClassNames), tc.mean, tc.std, tc.names)
			}
		})
	}
}
