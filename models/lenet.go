package models

import "github.com/lowbit/lowbit/layers"

// LeNet-5 (LeCun et al. 1998, Caffe's variant): conv5×5×20 → pool → conv5×5×50 → pool →
// dense 500 → dense 10, with BatchNorm and an activation after each hidden layer
// (conv → BN → act → pool).
func lenet5(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	b.Conv(w(20), 5, 1, 0, First)
	b.BN()
	b.Act()
	b.MaxPool(2, 2)
	b.Conv(w(50), 5, 1, 0, Body)
	b.BN()
	b.Act()
	b.MaxPool(2, 2)
	b.Dense(w(500), Body)
	b.BN()
	b.Act()
	b.Dropout(s.Dropout)
	b.Dense(s.Classes, Last)
	b.LastBN()
	return b.Seq()
}

// MLP: dense layers of the Hidden widths (default 512, 512), each followed by BN, the
// activation and dropout; the first and last follow the Policy (BNN's MNIST MLP is
// Hidden = 4096, 4096, 4096).
func mlp(s Spec, b *Build) (*layers.Sequential, error) {
	hidden := s.Hidden
	if len(hidden) == 0 {
		hidden = []int{512, 512}
	}
	for i, h := range hidden {
		p := Body
		if i == 0 {
			p = First
		}
		b.Dense(h, p)
		b.BN()
		b.Act()
		b.Dropout(s.Dropout)
	}
	b.Dense(s.Classes, Last)
	b.LastBN()
	return b.Seq()
}

// width returns a channel-count function applying the spec's multiplier.
func width(s Spec, min int) func(int) int {
	return func(c int) int {
		if s.Width == 0 || s.Width == 1 {
			return c
		}
		return max(min, int(float64(c)*s.Width+0.5))
	}
}

func init() {
	Register("lenet5", "LeNet-5: conv5x5x20-pool-conv5x5x50-pool-dense500-dense10 with BN (MNIST-sized input)", []int{28, 28, 1}, 10, lenet5)
	Register("mlp", "MLP with BN: dense(hidden...)-dense(classes); BNN's is -hidden 4096,4096,4096", []int{28, 28, 1}, 10, mlp)
}
