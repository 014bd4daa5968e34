package models

import "github.com/lowbit/lowbit/layers"

// VGG-small for CIFAR, as in LQ-Nets (Zhang et al. 2018, https://arxiv.org/abs/1807.10029)
// and LSQ: 128C3-128C3-MP2-256C3-256C3-MP2-512C3-512C3-MP2-FC, BN and the activation
// after every conv; 4.66M parameters at 32×32. A pooled conv runs conv → max pool →
// BN → act, the binary networks' order (XNOR-Net, BNN): pooling signs after the
// activation would bias them to +1; for ReLU nets the two orders agree.
func vggSmall(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	for i, c := range []int{128, 128, 256, 256, 512, 512} {
		p := Body
		if i == 0 {
			p = First
		}
		b.Conv(w(c), 3, 1, 1, p)
		if i%2 == 1 {
			b.MaxPool(2, 2)
		}
		b.BN()
		b.Act()
	}
	b.Dropout(s.Dropout)
	b.Dense(s.Classes, Last)
	b.LastBN()
	return b.Seq()
}

func init() {
	Register("vgg-small", "VGG-small (LQ-Nets/LSQ CIFAR): 128C3-128C3-MP-256C3-256C3-MP-512C3-512C3-MP-FC with BN, 4.66M params", []int{32, 32, 3}, 10, vggSmall)
}
