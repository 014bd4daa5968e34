package models

import "github.com/lowbit/lowbit/layers"

// larqCNN is the all-binary CNN of Larq's MNIST tutorial
// (https://docs.larq.dev/larq/tutorials/mnist/), 93,790 values with BN statistics:
//
//	QConv32 3×3 → MaxPool 2 → BN, QConv64 3×3 → MaxPool 2 → BN, QConv64 3×3 → BN,
//	Flatten, QDense64 → BN, QDense10 → BN → softmax
//
// Every conv/dense has no bias and every BN has scale=False (γ fixed at 1, ε = 1e-3 as
// in Keras). With Policy SameWeights the first layer binarizes only its weights (the
// image stays real) and every later layer binarizes its weights and its input; the
// sign that follows each BN is the next layer's input quantizer, so there is no
// activation unless Spec.Act names one explicitly (ReLU or HardTanh after each hidden BN).
func larqCNN(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	act := func() {
		if s.Act != Auto && s.Act != None {
			b.Act()
		}
	}
	b.Conv(w(32), 3, 1, 0, First)
	b.MaxPool(2, 2)
	b.bnNoScale()
	act()
	b.Conv(w(64), 3, 1, 0, Body)
	b.MaxPool(2, 2)
	b.bnNoScale()
	act()
	b.Conv(w(64), 3, 1, 0, Body)
	b.bnNoScale()
	act()
	b.denseNoBias(w(64), Body)
	b.bnNoScale()
	act()
	b.denseNoBias(s.Classes, Last)
	b.bnNoScale()
	return b.Seq()
}

// bnNoScale adds Keras-style BatchNormalization(scale=False): γ fixed at 1, ε = 1e-3.
func (b *Build) bnNoScale() {
	if b.err != nil || b.spec.NoBN {
		return
	}
	l, err := layers.NewBatchNorm(b.name("bn"), layers.BatchNormConfig{C: b.shape[len(b.shape)-1], NoScale: true, Eps: 1e-3})
	b.add(l, err)
}

// denseNoBias adds a dense layer without bias, the last layer included (Larq's use_bias=False).
func (b *Build) denseNoBias(out int, p Position) { b.dense(out, p, !b.spec.NoBN) }

func init() {
	Register("larq-cnn", "Larq's MNIST tutorial CNN: conv3x3x32-pool-bn-conv3x3x64-pool-bn-conv3x3x64-bn-dense64-bn-dense10-bn, no biases, BN without scale", []int{28, 28, 1}, 10, larqCNN)
}
