package bitpack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
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
// and a float classifier, with the channels ch (the stem's, block2's,
// unit2's). The xnor layers pad with zeros; the BatchNorms mix the fusion
// tests' hard cases.
func resnetSpec(seed uint64, act string, ch [3]int) Spec {
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
	c0, c1, c2 := ch[0], ch[1], ch[2]
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
// batch 1 and 3, on 1 and 2 threads, with the assembly and Go kernels,
// with odd channel counts (the epilogue's row tails) and multiples of 16
// (whole rows in one assembly pass, which packs the signs in the same
// pass for multiples of 64 and after it otherwise). Before a sign a
// HardTanh drops out (signStages), so the Bi-Real units' inputs are
// packed by their producers; a ReLU stays in the packing.
func TestFusedResidual(t *testing.T) {
	defer splitSmall()()
	acts := []struct {
		act  string
		want fuseCounts
	}{
		{LayerHardTanh, fuseCounts{epilogueSums: 4, packs: 4, poolPre: 1, stems: 1}},
		{LayerReLU, fuseCounts{epilogueSums: 4, packs: 2, poolPre: 1, inStages: 2, stems: 1}},
	}
	chans := [][3]int{{65, 33, 40}, {64, 48, 128}}
	bothPaths(t, func(t *testing.T) {
		for _, threads := range []int{1, 2} {
			for i, ch := range chans {
				for seed, a := range acts {
					name := fmt.Sprintf("threads%d/%v/%s", threads, ch, a.act)
					t.Run(name, func(t *testing.T) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
						s := resnetSpec(uint64(seed+1+2*i), a.act, ch)
						fused, plain := newModels(t, s)
						if fused.chains != 2 {
							t.Fatalf("%d fused chains, want 2 (the two blocks' first convs)", fused.chains)
						}
						if got := fusedKinds(fused.fused); got != a.want {
							t.Fatalf("fused layers %+v, want %+v", got, a.want)
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

// TestSignStages: trailing HardTanhs before a sign packing drop out, and
// the packed signs of HardTanh(v) are those of v for every kind of
// float32 (±0, ±Inf, NaN of either sign, subnormals, values beyond ±1),
// with the assembly and Go row kernels.
func TestSignStages(t *testing.T) {
	bn := stage{kind: opBN}
	ht, rl := stage{kind: opHardTanh}, stage{kind: opReLU}
	cases := []struct {
		name string
		in   []stage
		want int // stages left; 0: nil
	}{
		{"hardtanh", []stage{ht}, 0},
		{"two hardtanhs", []stage{ht, ht}, 0},
		{"bn hardtanh", []stage{bn, ht}, 1},
		{"hardtanh bn", []stage{ht, bn}, 2},
		{"relu", []stage{rl}, 1},
		{"hardtanh relu", []stage{ht, rl}, 2},
	}
	for _, c := range cases {
		got := signStages(c.in)
		if len(got) != c.want || c.want == 0 && got != nil {
			t.Errorf("%s: %d stages left (nil %v), want %d", c.name, len(got), got == nil, c.want)
		}
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 3, -3,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN()),
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32}
	rng := rand.New(rand.NewPCG(5, 6))
	bothPaths(t, func(t *testing.T) {
		x := make([]float32, 128)
		for i := range x {
			x[i] = special[rng.IntN(len(special))]
		}
		y := append([]float32(nil), x...)
		hardTanhRow(y)
		a, b := make([]uint64, 2), make([]uint64, 2)
		packSigns(a, x)
		packSigns(b, y)
		if a[0] != b[0] || a[1] != b[1] {
			t.Fatalf("signs %x, after HardTanh %x", a, b)
		}
	})
}

// TestSumInPlace: a residual sum written over the block's shortcut
// values (fusedResidual.sumInPlace) gives the unfused logits and never
// writes the caller's input: not in a first block, nor in a block whose
// input is the caller's through a Flatten.
func TestSumInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	unit := func(name string, k int) LayerSpec {
		l, b := xnorLinear(rng, name, 64, 64, k, 1, min(k/2, 1), false, false)
		return LayerSpec{Kind: LayerResidual, Name: name + "_unit", Body: []LayerSpec{{Kind: LayerHardTanh}, l, b}}
	}
	fc := func(in int) LayerSpec {
		return LayerSpec{Kind: LayerDense, Name: "fc", Kernel: KernelFloat, In: in, Out: 10, Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 10*in, 0.1)}}
	}
	cases := []struct {
		name    string
		s       Spec
		inPlace []bool // per top-level fusedResidual
	}{
		{"conv units", Spec{Input: []int{5, 4, 64}, Classes: 10, Layers: []LayerSpec{unit("u1", 3), unit("u2", 3),
			{Kind: LayerAvgPool, Global: true}, {Kind: LayerFlatten}, fc(64)}}, []bool{false, true}},
		{"flatten first", Spec{Input: []int{1, 1, 64}, Classes: 10, Layers: []LayerSpec{{Kind: LayerFlatten}, unit("d1", 0), fc(64)}}, []bool{true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fused, plain := newModels(t, c.s)
			var got []bool
			for _, l := range fused.fused {
				if r, ok := l.(*fusedResidual); ok {
					got = append(got, r.sumInPlace)
				}
			}
			if !slices.Equal(got, c.inPlace) {
				t.Fatalf("sumInPlace %v, want %v", got, c.inPlace)
			}
			const n = 2
			x := fuseInput(rng, n*c.s.Input[0]*c.s.Input[1]*c.s.Input[2])
			x0 := slices.Clone(x)
			samePredict(t, fused, plain, x, n)
			if !slices.Equal(x, x0) {
				t.Fatal("Predict wrote its input")
			}
		})
	}
}
