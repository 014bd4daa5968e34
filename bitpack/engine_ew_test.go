package bitpack

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// floatConv returns a KernelFloat conv with random weights and bias.
func floatConv(rng *rand.Rand, name string, in, out, k, stride, pad int) LayerSpec {
	return LayerSpec{Kind: LayerConv, Name: name, Kernel: KernelFloat, In: in, Out: out, KH: k, KW: k, Stride: stride, Pad: pad,
		Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, out*k*k*in, 0.3)}, Bias: randF(rng, out, 0.1)}
}

// resnetSpec is a small binary residual network in the layouts the
// models package exports: a float stem (conv → BN → act → max pool), a
// ResNet basic block with the identity shortcut, one with a strided
// xnor projection, a Bi-Real unit with the identity and one with the
// average-pool → float 1×1 conv shortcut, then global average pooling
// and a float classifier. Channel counts are odd; the xnor layers pad
// with zeros; the BatchNorms mix the fusion tests' hard cases.
func resnetSpec(seed uint64, act string) Spec {
	rng := rand.New(rand.NewPCG(seed, 23))
	a := LayerSpec{Kind: act}
	xconv := func(name string, in, out, k, stride, pad int) []LayerSpec {
		l, b := xnorLinear(rng, name, in, out, k, stride, pad, rng.IntN(2) == 0, rng.IntN(3) == 0)
		return []LayerSpec{l, b}
	}
	cat := func(parts ...[]LayerSpec) []LayerSpec {
		var out []LayerSpec
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	c0, c1, c2 := 65, 33, 40
	ls := []LayerSpec{floatConv(rng, "stem", 3, c0, 3, 1, 1), bn(rng, "stem_bn", c0), a, {Kind: LayerMaxPool, Size: 2, Stride: 2}}
	ls = append(ls,
		LayerSpec{Kind: LayerResidual, Name: "block1", Body: cat(xconv("b1c1", c0, c0, 3, 1, 1), []LayerSpec{a}, xconv("b1c2", c0, c0, 3, 1, 1))}, a,
		LayerSpec{Kind: LayerResidual, Name: "block2", Body: cat(xconv("b2c1", c0, c1, 3, 2, 1), []LayerSpec{a}, xconv("b2c2", c1, c1, 3, 1, 1)),
			Shortcut: xconv("b2sc", c0, c1, 1, 2, 0)}, a,
		LayerSpec{Kind: LayerResidual, Name: "unit1", Body: cat([]LayerSpec{a}, xconv("u1", c1, c1, 3, 1, 1))},
		LayerSpec{Kind: LayerResidual, Name: "unit2", Body: cat([]LayerSpec{a}, xconv("u2", c1, c2, 3, 2, 1)),
			Shortcut: []LayerSpec{{Kind: LayerAvgPool, Size: 2, Stride: 2}, floatConv(rng, "u2sc", c1, c2, 1, 1, 0), bn(rng, "u2sc_bn", c2)}},
		LayerSpec{Kind: LayerAvgPool, Global: true}, LayerSpec{Kind: LayerFlatten},
		LayerSpec{Kind: LayerDense, Name: "fc", Kernel: KernelFloat, In: c2, Out: 10, Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 10*c2, 0.1)}})
	return Spec{Input: []int{24, 24, 3}, Classes: 10, Layers: ls}
}

// TestFusedResidual: the fused float glue of residual networks (the xnor
// epilogue with BatchNorm, residual sum, activation and sign packing, the
// stem's BatchNorm and activation inside the max pool, Bi-Real's
// activation inside the xnor input packing) gives logits bit-identical
// to the unfused layers, on float inputs with exact zeros and −0, for
// batch 1 and 3, on 1 and 2 threads, with the assembly and Go kernels.
func TestFusedResidual(t *testing.T) {
	defer splitSmall()()
	bothPaths(t, func(t *testing.T) {
		for _, threads := range []int{1, 2} {
			for seed, act := range []string{LayerHardTanh, LayerReLU} {
				name := fmt.Sprintf("threads%d/%s", threads, act)
				t.Run(name, func(t *testing.T) {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
					s := resnetSpec(uint64(seed+1), act)
					fused, plain := newModels(t, s)
					if fused.chains != 2 {
						t.Fatalf("%d fused chains, want 2 (the two blocks' first convs)", fused.chains)
					}
					if got, want := fusedKinds(fused.fused), (fuseCounts{epilogueSums: 4, packs: 2, poolPre: 1, inStages: 2, stems: 1}); got != want {
						t.Fatalf("fused layers %+v, want %+v", got, want)
					}
					const n = 3
					rng := rand.New(rand.NewPCG(uint64(seed), 9))
					x := fuseInput(rng, n*24*24*3)
					for i := range x {
						if rng.IntN(4) != 0 {
							x[i] *= rng.Float32() * 3
						}
					}
					samePredict(t, fused, plain, x, n)
				})
			}
		}
	})
}

// fuseCounts counts the fused glue in a fused layer list.
type fuseCounts struct {
	epilogueSums int // residual sums inside an xnor epilogue
	packs        int // producers packing signs for the next conv
	poolPre      int // pools running elementwise layers on their input
	inStages     int // xnor layers running elementwise layers on their input
	stems        int // float convs pooled band by band (fusedStem)
}

func fusedKinds(ls []layer) fuseCounts {
	var c fuseCounts
	var walk func([]layer)
	walk = func(ls []layer) {
		for _, l := range ls {
			switch v := l.(type) {
			case *fusedResidual:
				if f, ok := v.body[len(v.body)-1].(*fusedXNOR); ok && f.link == nil {
					c.epilogueSums++
				}
				if v.packTo != nil {
					c.packs++
				}
				walk(v.body)
				walk(v.shortcut)
			case *fusedXNOR:
				if v.packTo != nil {
					c.packs++
				}
				if v.inStages != nil {
					c.inStages++
				}
			case *fusedStem:
				c.stems++
				walk([]layer{v.pool})
			case *poolLayer:
				if v.pre != nil {
					c.poolPre++
				}
				if v.packTo != nil {
					c.packs++
				}
			case *ewLayer:
				if v.packTo != nil {
					c.packs++
				}
			}
		}
	}
	walk(ls)
	return c
}

// splitSmall makes the engine split even tiny passes and convs over the
// threads, for the tests, and returns the function restoring the limits.
func splitSmall() (restore func()) {
	ew, gemm := ewMinParallel, gemmMinParallel
	ewMinParallel, gemmMinParallel = 64, 1
	return func() { ewMinParallel, gemmMinParallel = ew, gemm }
}
