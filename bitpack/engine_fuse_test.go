package bitpack

import (
	"fmt"
	"github.com/lowbit/lowbit/internal/qfunc"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// fuseEps is the BatchNorm eps of the fusion tests: with var = 1 − eps
// both float32-exact, var + eps = 1 exactly and a = γ.
const fuseEps = 1.0 / (1 << 20)

// xnorLinear returns a KernelXNOR conv (k > 0) or dense (k = 0) layer
// with per-row scales and a BatchNorm after it whose channels mix the
// hard cases: negative, zero and nil γ, tiny variances, thresholds
// outside the dot range, and channels whose output is exactly +0 or −0
// at a small reachable dot (dyadic scale, bias and mean) or only through
// the float32 rounding of the BatchNorm (where float64 says negative).
func xnorLinear(rng *rand.Rand, name string, in, out, k, stride, pad int, bias, nilGamma bool) (LayerSpec, LayerSpec) {
	l := LayerSpec{Kind: LayerConv, Name: name, Kernel: KernelXNOR, In: in, Out: out, KH: k, KW: k, Stride: stride, Pad: pad,
		Input: InputQuant{Kind: QuantSign}}
	if k == 0 {
		l.Kind, l.KH, l.KW, l.Stride, l.Pad = LayerDense, 1, 1, 1, 0
	}
	kk := l.KH * l.KW * in
	l.Weights = WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, out*kk, -1, 1, true), Scale: make([]float32, out)}
	if bias {
		l.Bias = make([]float32, out)
	}
	b := LayerSpec{Kind: LayerBatchNorm, Name: name + "_bn", Eps: fuseEps,
		Gamma: make([]float32, out), Beta: make([]float32, out), Mean: make([]float32, out), Var: make([]float32, out)}
	for o := 0; o < out; o++ {
		var bo *float32
		if bias {
			bo = &l.Bias[o]
		}
		s, g, beta, mean, v := fuseChannel(rng, o, kk, bo)
		l.Weights.Scale[o] = s
		b.Gamma[o], b.Beta[o], b.Mean[o], b.Var[o] = g, beta, mean, v
		if o%9 == 0 || o%9 == 7 {
			b.Beta[o] = rng.Float32() - 0.5
		}
	}
	if nilGamma {
		b.Gamma = nil
	}
	return l, b
}

// fuseChannel draws channel o's weight scale s, its bias (when bias is not
// nil) and its BatchNorm γ, β, μ, σ², in the hard case o%9 picks (see
// xnorLinear); kk is the dot length.
func fuseChannel(rng *rand.Rand, o, kk int, bias *float32) (s, g, beta, mean, v float32) {
	s = 0.01 + rng.Float32()*0.1
	if rng.IntN(4) == 0 {
		s = -s
	}
	g, v = rng.Float32()*2-0.5, rng.Float32()*2+0.1
	if bias != nil {
		*bias = rng.Float32() - 0.5
	}
	switch o % 9 {
	case 1: // negative γ
		g = -0.2 - rng.Float32()
	case 2: // zero γ: constant sign
		g = 0
	case 3: // tiny variance
		v = 1e-9
	case 4, 5: // +0 at d0: y(d0) = s·d0 + bias, bn = ±(y − y(d0))
		d0 := int32(rng.IntN(7) - 3)
		s = float32([]float64{0.25, -0.125, 0.5, 0.0625}[rng.IntN(4)])
		if bias != nil {
			*bias = float32([]float64{0.5, -0.25, 0}[rng.IntN(3)])
		}
		y0 := s * float32(d0)
		if bias != nil {
			y0 += *bias
		}
		g, v, mean = 1, 1-fuseEps, y0
		if o%9 == 5 {
			g = -1
		}
	case 6: // −0 at d = 0: s < 0, bias −0, β = −0, μ = 0, a > 0
		s = -0.25
		if bias != nil {
			*bias = float32(math.Copysign(0, -1))
		}
		g, v, beta = 1, 1-fuseEps, float32(math.Copysign(0, -1))
	case 7: // threshold outside [−K, K]
		mean = float32(1e4 * float64(1-2*rng.IntN(2)))
	case 8: // float32 rounding decides: at d0, bn = float32(y0·γ) − p = +0
		// though y0·γ − p < 0 in exact (or float64) arithmetic
		d0 := int32(1 + rng.IntN(3))
		if rng.IntN(2) == 0 {
			d0 = -d0
		}
		y0 := float32(s * float32(d0))
		if bias != nil {
			y0 = float32(y0 + *bias)
		}
		v = 1 - fuseEps
		for {
			g = 0.5 + rng.Float32()
			if p := float32(y0 * g); float64(y0)*float64(g) < float64(p) {
				beta = -p
				break
			}
		}
	default:
		beta, mean = rng.Float32()-0.5, float32(rng.NormFloat64()*float64(s)*math.Sqrt(float64(kk)))
	}
	return s, g, beta, mean, v
}

// Chain orders of fuseSpec: no pool, BN → act → pool (LeNet), pool → BN
// → act (VGG, binary networks).
const (
	orderNoPool = iota
	orderPoolAfter
	orderPoolBefore
)

// fuseSpec is input 12×12×5 → xnor conv A (c channels, stride, pad) →
// BN/act/pool → xnor conv B (c2, pad 1) → BN/act/pool → flatten → xnor
// dense C (37) → BN/act → xnor dense D (10 logits): three links.
func fuseSpec(seed uint64, c, c2, stride, pad int, act string, order int) Spec {
	rng := rand.New(rand.NewPCG(seed, 17))
	var ls []LayerSpec
	h := 12
	block := func(l, b LayerSpec, poolSize, poolStride int) {
		ls = append(ls, l)
		h = (h+2*l.Pad-l.KH)/l.Stride + 1
		pool := LayerSpec{Kind: LayerMaxPool, Name: l.Name + "_pool", Size: poolSize, Stride: poolStride}
		withPool := order != orderNoPool && h >= poolSize && l.Kind == LayerConv
		if withPool && order == orderPoolBefore {
			ls = append(ls, pool)
		}
		ls = append(ls, b)
		if act != "" {
			ls = append(ls, LayerSpec{Kind: act, Name: l.Name + "_act"})
		}
		if withPool && order == orderPoolAfter {
			ls = append(ls, pool)
		}
		if withPool {
			h = (h-poolSize)/poolStride + 1
		}
	}
	a, abn := xnorLinear(rng, "A", 5, c, 3, stride, pad, true, false)
	block(a, abn, 2, 2)
	b, bbn := xnorLinear(rng, "B", c, c2, 3, 1, 1, false, true)
	block(b, bbn, 2, 1)
	ls = append(ls, LayerSpec{Kind: LayerFlatten, Name: "flat"})
	d, dbn := xnorLinear(rng, "C", h*h*c2, 37, 0, 1, 0, true, false)
	block(d, dbn, 0, 0)
	e, _ := xnorLinear(rng, "D", 37, 10, 0, 1, 0, true, false)
	ls = append(ls, e)
	return Spec{Input: []int{12, 12, 5}, Classes: 10, Layers: ls}
}

// fuseInput draws n samples of signs with exact zeros and −0.
func fuseInput(rng *rand.Rand, n int) []float32 {
	x := randSigns(rng, n)
	for i := range x {
		if rng.IntN(9) == 0 {
			x[i] = float32(math.Copysign(0, -1))
		}
	}
	return x
}

// samePredict checks that the fused and unfused models give bit-identical
// logits on x, over two batch sizes.
func samePredict(t *testing.T, fused, plain *Model, x []float32, n int) {
	t.Helper()
	per := len(x) / n
	for _, k := range []int{n, 1, n} {
		got, err := fused.Predict(x[:k*per], k)
		if err != nil {
			t.Fatal(err)
		}
		want, err := plain.Predict(x[:k*per], k)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("batch %d: logit %d: fused %g, unfused %g", k, i, got[i], want[i])
			}
		}
	}
}

func newModels(t testing.TB, s Spec) (fused, plain *Model) {
	t.Helper()
	fused, err := newModel(s, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err = newModel(s, false)
	if err != nil {
		t.Fatal(err)
	}
	return fused, plain
}

// TestFusedEngine: the fused BatchNorm+sign chains give logits
// bit-identical to the float path, for conv → conv (padding 0 and 1,
// stride 1 and 2, odd channel counts, pool after or before the BN),
// conv → flatten → dense (with and without the bit repack) and dense →
// dense, under every activation; and the chains are really fused.
func TestFusedEngine(t *testing.T) {
	chans := []int{3, 50, 64, 65, 130}
	acts := []string{"", LayerReLU, LayerHardTanh}
	bothPaths(t, func(t *testing.T) {
		zeros, seed := 0, uint64(0)
		for ci, c := range chans {
			c2 := chans[(ci+2)%len(chans)]
			for _, pad := range []int{0, 1} {
				for _, stride := range []int{1, 2} {
					for _, act := range acts {
						for order := orderNoPool; order <= orderPoolBefore; order++ {
							seed++
							name := fmt.Sprintf("c%d-%d/pad%d/stride%d/%s/order%d", c, c2, pad, stride, act, order)
							s := fuseSpec(seed, c, c2, stride, pad, act, order)
							fused, plain := newModels(t, s)
							if fused.chains != 3 {
								t.Fatalf("%s: %d fused chains, want 3", name, fused.chains)
							}
							if plain.fused != nil || plain.chains != 0 {
								t.Fatalf("%s: the unfused model fuses", name)
							}
							const n = 3
							x := fuseInput(rand.New(rand.NewPCG(seed, 3)), n*12*12*5)
							t.Run(name, func(t *testing.T) { samePredict(t, fused, plain, x, n) })
							if act == LayerReLU {
								continue
							}
							// The exact-zero channels (o%9 = 4, 5, 6, 8) of the
							// BatchNorms feeding B, C and D hit their zero,
							// the sign boundary.
							fused.Trace(x, n, func(tr Trace) error {
								if (tr.Name == "B" || tr.Name == "D") && order == orderNoPool {
									c := tr.InDims[len(tr.InDims)-1]
									for i, v := range tr.In {
										if o := i % c % 9; v == 0 && (o >= 4 && o <= 6 || o == 8) {
											zeros++
										}
									}
								}
								return nil
							})
						}
					}
				}
			}
		}
		if zeros == 0 {
			t.Error("no BatchNorm output was exactly zero")
		}
		t.Logf("exact zeros at the sign boundary: %d", zeros)
	})
}

// TestFusedChains: which chains fuse, inside residual blocks too, and
// which do not (average pool, a float or non-xnor consumer, a NaN
// BatchNorm, a flatten followed by more elementwise layers).
func TestFusedChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	conv := func(name string, in, out int) (LayerSpec, LayerSpec) {
		return xnorLinear(rng, name, in, out, 3, 1, 1, false, false)
	}
	a, abn := conv("a", 4, 40)
	b, bbn := conv("b", 40, 40)
	c, cbn := conv("c", 40, 40)
	d, _ := conv("d", 40, 40)
	f := d
	f.Name, f.Kernel, f.Weights = "f", KernelFloat, WeightSpec{Enc: WeightsF32, Float: randF(rng, 40*9*40, 0.1)}
	bs := d
	bs.Name, bs.Kernel, bs.Input = "bs", KernelBitSerial, InputQuant(qfunc.Levels(3))
	relu := LayerSpec{Kind: LayerReLU}
	ht := LayerSpec{Kind: LayerHardTanh}
	nanBN := bbn
	nanBN.Gamma = append([]float32(nil), bbn.Gamma...)
	nanBN.Gamma[5] = float32(math.NaN())
	gap := []LayerSpec{{Kind: LayerAvgPool, Global: true}, {Kind: LayerFlatten}, {Kind: LayerDense, Kernel: KernelFloat, In: 40, Out: 3,
		Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 120, 0.1)}}}
	for _, tc := range []struct {
		name   string
		layers []LayerSpec
		chains int
	}{
		{"three", []LayerSpec{a, abn, ht, b, bbn, c, cbn, relu, d}, 3},
		{"two bn", []LayerSpec{a, abn, ht, bbn, relu, d}, 1},
		{"no bn", []LayerSpec{a, b, ht, d}, 2},
		{"avgpool", []LayerSpec{a, abn, {Kind: LayerAvgPool, Size: 2, Stride: 1}, b, bbn, d}, 1},
		{"float consumer", []LayerSpec{a, abn, ht, f, bbn, d}, 0},
		{"bitserial consumer", []LayerSpec{a, abn, ht, bs, bbn, d}, 0},
		{"nan", []LayerSpec{a, abn, b, nanBN, ht, c, cbn, d}, 2},
		{"residual", []LayerSpec{a, abn, ht, {Kind: LayerResidual, Body: []LayerSpec{b, bbn, ht, c, cbn}}, d}, 1},
		{"residual shortcut", []LayerSpec{a, abn, {Kind: LayerResidual, Body: []LayerSpec{b}, Shortcut: []LayerSpec{c, cbn, ht, d}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Spec{Input: []int{6, 6, 4}, Classes: 3, Layers: append(append([]LayerSpec(nil), tc.layers...), gap...)}
			fused, plain := newModels(t, s)
			if fused.chains != tc.chains {
				t.Errorf("%d fused chains, want %d", fused.chains, tc.chains)
			}
			const n = 4
			samePredict(t, fused, plain, fuseInput(rand.New(rand.NewPCG(1, 1)), n*6*6*4), n)
		})
	}
}

// TestFusedConcurrent: the fused model from several goroutines with
// different batch sizes (meaningful under -race) matches a serial run.
func TestFusedConcurrent(t *testing.T) {
	fused, _ := newModels(t, fuseSpec(5, 65, 50, 1, 1, LayerHardTanh, orderPoolBefore))
	const n = 9
	x := fuseInput(rand.New(rand.NewPCG(2, 2)), n*12*12*5)
	want, err := fused.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for g := 0; g < 6; g++ {
		wg.Go(func() {
			for it := 0; it < 4; it++ {
				k := 1 + (g+it)%n
				got, err := fused.Predict(x[:k*12*12*5], k)
				if err != nil {
					errs <- err
					return
				}
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d: logit %d = %g, want %g", g, i, got[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFoldExact: for every channel and every dot in [−K, K] the folded
// threshold gives the sign of the engine's float path (scale·dot + bias,
// BatchNorm, HardTanh), the zero and negative-zero channels included.
func TestFoldExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	l, b := xnorLinear(rng, "x", 13, 96, 3, 1, 1, true, false)
	s := Spec{Input: []int{5, 5, 13}, Classes: 96 * 25, Layers: []LayerSpec{l, b, {Kind: LayerHardTanh}, {Kind: LayerFlatten}}}
	m, err := newModel(s, false)
	if err != nil {
		t.Fatal(err)
	}
	lin, bnl, act := m.layers[0].(*linear), m.layers[1].(*bnLayer), m.layers[2].(*actLayer)
	th, _, ok := fold(lin, []layer{bnl, act}, nil, false)
	if !ok {
		t.Fatal("not folded")
	}
	k := int32(lin.k)
	zeros := 0
	for o := 0; o < lin.cout; o++ {
		y := make([]float32, 2*k+1)
		for d := -k; d <= k; d++ {
			y[d+k] = lin.scale1[o] * float32(d)
			y[d+k] += lin.bias[o]
		}
		for i := range y {
			y[i] = y[i]*bnl.a[o] + bnl.b[o]
			y[i] = min(max(y[i], -1), 1)
			if y[i] == 0 {
				zeros++
			}
			want := 1
			if y[i] < 0 {
				want = -1
			}
			if got := th.Sign(o, int32(i)-k); got != want {
				t.Fatalf("channel %d, dot %d: folded sign %d, float path %g", o, int32(i)-k, got, y[i])
			}
		}
	}
	if zeros == 0 {
		t.Error("no exact zero")
	}
}

// vggSpec is a binary VGG-like stack on 16×16 maps: four 3×3 xnor convs
// (128, 128, 256, 256 channels) each followed by BatchNorm and HardTanh,
// then global average pooling and a float classifier.
func vggSpec() Spec {
	rng := rand.New(rand.NewPCG(11, 11))
	var ls []LayerSpec
	in := 128
	for i, c := range []int{128, 128, 256, 256} {
		l := LayerSpec{Kind: LayerConv, Name: fmt.Sprint("conv", i), Kernel: KernelXNOR, In: in, Out: c, KH: 3, KW: 3, Stride: 1, Pad: 1,
			Input:   InputQuant{Kind: QuantSign},
			Weights: WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, c*9*in, -1, 1, true), Scale: []float32{0.05}}}
		ls = append(ls, l, bn(rng, fmt.Sprint("bn", i), c), LayerSpec{Kind: LayerHardTanh})
		in = c
	}
	ls = append(ls, LayerSpec{Kind: LayerAvgPool, Global: true}, LayerSpec{Kind: LayerFlatten},
		LayerSpec{Kind: LayerDense, Kernel: KernelFloat, In: in, Out: 10, Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 10*in, 0.1)}})
	return Spec{Input: []int{16, 16, 128}, Classes: 10, Layers: ls}
}

// BenchmarkFusedVGG times Predict on vggSpec, batch 16, with the binary
// chains fused (packed thresholds) and unfused (float BN, HardTanh and
// sign packing between the layers), separately and interleaved. Time it
// with GOMAXPROCS=1 taskset -c 0 on a shared machine.
func BenchmarkFusedVGG(b *testing.B) {
	s := vggSpec()
	const n = 16
	x := randF(rand.New(rand.NewPCG(1, 2)), n*16*16*128, 1)
	for _, fuse := range []bool{false, true} {
		name := "unfused"
		if fuse {
			name = "fused"
		}
		b.Run(name, func(b *testing.B) {
			m, err := newModel(s, fuse)
			if err != nil {
				b.Fatal(err)
			}
			if fuse && m.chains != 3 {
				b.Fatalf("%d chains fused, want 3", m.chains)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Predict(x, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
	// Both engines in turn within each round, medians: less exposed to
	// load changes on a shared machine.
	b.Run("interleaved", func(b *testing.B) {
		fused, plain := newModels(b, s)
		var tf, tp []float64
		timeit := func(m *Model) float64 {
			t0 := time.Now()
			if _, err := m.Predict(x, n); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0).Seconds()
		}
		for b.Loop() {
			tp = append(tp, timeit(plain))
			tf = append(tf, timeit(fused))
		}
		med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
		mf, mp := med(tf), med(tp)
		b.ReportMetric(n/mp, "unfused-img/s")
		b.ReportMetric(n/mf, "fused-img/s")
		b.ReportMetric(mp/mf, "speedup")
	})
}
