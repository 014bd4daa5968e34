package bitpack

import (
	"math/rand/v2"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// bitSerialSpec is a model whose bit-serial convs take the direct kernel
// (2-bit inputs, 64 channels): padded stride 1 with binary weights,
// padded stride 2 with DoReFa 2-bit weights, unpadded stride 1. At one
// thread they prepare their input serially (padPlanes, rowSums), at more
// in parallel (bitSerialSplit); TestPredictThreads checks the bits agree.
func bitSerialSpec() Spec {
	rng := rand.New(rand.NewPCG(11, 5))
	conv := func(name string, stride, pad int, w WeightSpec) LayerSpec {
		return LayerSpec{Kind: LayerConv, Name: name, Kernel: KernelBitSerial, In: 64, Out: 64, KH: 3, KW: 3,
			Stride: stride, Pad: pad, Input: InputQuant(qfunc.Levels(3)), Weights: w}
	}
	sign := WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, 64*576, -1, 1, true), Scale: []float32{0.05}}
	dorefa := WeightSpec{Enc: WeightsDoReFa, Bits: 2, Levels: randLevels(rng, 64*576, 0, 3, false), Scale: []float32{1.0 / 3}}
	sign2 := WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, 64*576, -1, 1, true), Scale: []float32{0.02}}
	return Spec{
		Input:   []int{11, 9, 64},
		Classes: 10,
		Layers: []LayerSpec{
			conv("b1", 1, 1, sign), bn(rng, "bn1", 64), {Kind: LayerHardTanh, Name: "ht1"},
			conv("b2", 2, 1, dorefa), bn(rng, "bn2", 64), {Kind: LayerHardTanh, Name: "ht2"},
			conv("b3", 1, 0, sign2), bn(rng, "bn3", 64),
			{Kind: LayerAvgPool, Name: "gap", Global: true},
			{Kind: LayerFlatten, Name: "flat"},
			{Kind: LayerDense, Name: "fc", Kernel: KernelFloat, In: 64, Out: 10, Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 640, 0.1)}},
		},
	}
}
