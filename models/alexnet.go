package models

import "github.com/lowbit/lowbit/layers"

// AlexNet with BatchNorm, the layout of the binary-network papers (XNOR-Net,
// https://arxiv.org/abs/1603.05279; DoReFa-Net, https://arxiv.org/abs/1606.06160):
// conv11×11×96/4 (pad 2) → MP3/2 → conv5×5×256 → MP3/2 → conv3×3×384 → conv3×3×384
// → conv3×3×256 → MP3/2 → fc4096 → fc4096 → fc(classes), with BN and the activation
// after every hidden layer (a pooled conv runs conv → max pool → BN → act) and no
// conv biases; 62.4M parameters at 224 px and 1000 classes (Krizhevsky's two-GPU
// grouping is not reproduced). Spec.Dropout > 0 adds dropout after the hidden fc
// layers (XNOR-Net's variant, 0.5); the zero value is DoReFa's, which drops dropout
// and relies on BN everywhere. The first conv and the last fc follow the Policy
// (both full precision in the papers). DoReFa's tensorpack model also uses a
// 12×12 first kernel and grouped convs; those are not reproduced either.
func alexnet(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	b.Conv(w(96), 11, 4, 2, First)
	b.MaxPool(3, 2)
	b.BN()
	b.Act()
	b.Conv(w(256), 5, 1, 2, Body)
	b.MaxPool(3, 2)
	b.BN()
	b.Act()
	b.Conv(w(384), 3, 1, 1, Body)
	b.BN()
	b.Act()
	b.Conv(w(384), 3, 1, 1, Body)
	b.BN()
	b.Act()
	b.Conv(w(256), 3, 1, 1, Body)
	b.MaxPool(3, 2)
	b.BN()
	b.Act()
	for range 2 {
		b.Dense(w(4096), Body)
		b.BN()
		b.Act()
		b.Dropout(s.Dropout)
	}
	b.Dense(s.Classes, Last)
	b.LastBN()
	return b.Seq()
}

func init() {
	Register("alexnet", "AlexNet with BN (XNOR-Net/DoReFa layout): 96-256-384-384-256 convs, fc 4096-4096; -dropout 0.5 for XNOR-Net's", []int{224, 224, 3}, 1000, alexnet)
}
