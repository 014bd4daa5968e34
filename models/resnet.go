package models

import "github.com/lowbit/lowbit/layers"

// basicBlock adds the basic block of He et al. 2016 (https://arxiv.org/abs/1512.03385):
// conv3×3(stride) → BN → act → conv3×3 → BN, plus the identity or, when the shape
// changes, the projection conv1×1(stride) → BN (option B), then act. Every conv is a
// body layer, the projection included (LSQ and XNOR-Net quantize it too).
func basicBlock(b *Build, out, stride int) {
	body := b.Sub()
	body.Conv(out, 3, stride, 1, Body)
	body.BN()
	body.Act()
	body.Conv(out, 3, 1, 1, Body)
	body.BN()
	var sc *Build
	if stride != 1 || b.Shape()[2] != out {
		sc = b.Sub()
		sc.Conv(out, 1, stride, 0, Body)
		sc.BN()
	}
	b.Residual(body, sc)
	b.Act()
}

// resnetHead adds global average pooling and the classifier (a Last layer).
func resnetHead(s Spec, b *Build) {
	b.GlobalAvgPool()
	b.Dense(s.Classes, Last)
	b.LastBN()
}

// ResNet-20 for CIFAR (He et al. 2016, §4.2, https://arxiv.org/abs/1512.03385):
// conv3×3×16 → 3 stages of 3 basic blocks with 16, 32, 64 channels (stride 2 at the
// start of stages 2 and 3) → global average pool → dense. The paper's 0.27M
// parameters use zero-padding shortcuts (option A); this uses 1×1 projections
// (option B), 2,560 more weights.
func resnet20(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	b.Conv(w(16), 3, 1, 1, First)
	b.BN()
	b.Act()
	for stage, c := range []int{16, 32, 64} {
		for i := range 3 {
			stride := 1
			if stage > 0 && i == 0 {
				stride = 2
			}
			basicBlock(b, w(c), stride)
		}
	}
	resnetHead(s, b)
	return b.Seq()
}

// imagenetStem adds ResNet-18's stem: conv7×7×64/2 (pad 3) → BN → act → max pool.
// torchvision pools 3×3/2 with 1 pixel of padding; layers.MaxPool has no padding,
// so this pools 2×2/2, which gives the same 56×56 map at 224 px (hence the same
// parameters and conv MACs) with a 2×2 instead of 3×3 window.
func imagenetStem(b *Build, c int) {
	b.Conv(c, 7, 2, 3, First)
	b.BN()
	b.Act()
	b.MaxPool(2, 2)
}

// ResNet-18 for ImageNet (He et al. 2016, Table 1, https://arxiv.org/abs/1512.03385):
// the stem (see imagenetStem), 4 stages of 2 basic blocks with 64, 128, 256, 512
// channels (stride 2 at the start of stages 2-4, 1×1 projection shortcuts) → global
// average pool → dense; 11.69M parameters at 1000 classes, 1.8G MACs at 224 px.
func resnet18(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	imagenetStem(b, w(64))
	imagenetStages(b, w, 2, basicBlock)
	resnetHead(s, b)
	return b.Seq()
}

// imagenetStages adds the 4 stages of 64, 128, 256, 512 channels, each of n units,
// the first unit of stages 2-4 with stride 2.
func imagenetStages(b *Build, w func(int) int, n int, unit func(b *Build, out, stride int)) {
	for stage, c := range []int{64, 128, 256, 512} {
		for i := range n {
			stride := 1
			if stage > 0 && i == 0 {
				stride = 2
			}
			unit(b, w(c), stride)
		}
	}
}

// biRealUnit adds one Bi-Real unit: act → conv3×3(stride) → BN, plus a real-valued
// shortcut: the identity, or avgpool2×2/2 (when strided) → real conv1×1 → BN when
// the shape changes. The act (HardTanh before a sign quantizer, whose forward it does
// not change) keeps full-precision specs nonlinear; the sum is never binarized.
func biRealUnit(b *Build, out, stride int) {
	body := b.Sub()
	body.Act()
	body.Conv(out, 3, stride, 1, Body)
	body.BN()
	var sc *Build
	if stride != 1 || b.Shape()[2] != out {
		sc = b.Sub()
		if stride != 1 {
			sc.AvgPool(stride, stride)
		}
		sc.Conv(out, 1, 1, 0, Real)
		sc.BN()
	}
	b.Residual(body, sc)
}

// Bi-Real Net 18 (Liu et al. 2018, https://arxiv.org/abs/1808.00278): ResNet-18 with
// a real-valued shortcut around every binary 3×3 conv (each basic block's two convs
// get their own residual), so the real activations carry through the whole body;
// downsampling shortcuts are avgpool2×2/2 → real 1×1 conv → BN. The stem is
// ResNet-18's (see imagenetStem). The input side must be a multiple of 32 so the
// pooled shortcut and the strided conv agree.
func birealnet18(s Spec, b *Build) (*layers.Sequential, error) {
	w := width(s, 1)
	imagenetStem(b, w(64))
	imagenetStages(b, w, 4, biRealUnit)
	resnetHead(s, b)
	return b.Seq()
}

func init() {
	Register("resnet20", "ResNet-20 (He et al. 2016) for CIFAR: 3x3 basic blocks 16/32/64, 1x1 projection shortcuts, 0.27M params", []int{32, 32, 3}, 10, resnet20)
	Register("resnet18", "ResNet-18 (He et al. 2016) for ImageNet: 7x7/2 stem, basic blocks 64/128/256/512, 11.7M params", []int{224, 224, 3}, 1000, resnet18)
	Register("birealnet18", "Bi-Real Net 18 (Liu et al. 2018): ResNet-18 with a real shortcut around every binary 3x3 conv", []int{224, 224, 3}, 1000, birealnet18)
}
