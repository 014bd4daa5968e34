package bitpack

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// intLinear returns an integer conv layer and the BatchNorm after it
// (xnorLinear's hard BatchNorm channels): KernelInt8 with 4-bit LSQ-style
// input codes and 4-bit weights, or KernelBitSerial with 2-bit codes and
// ±1 weights.
func intLinear(rng *rand.Rand, kernel, name string, in, out, k, stride, pad int) (LayerSpec, LayerSpec) {
	l, b := xnorLinear(rng, name, in, out, k, stride, pad, true, false)
	l.Kernel = kernel
	if kernel == KernelBitSerial {
		l.Input = InputQuant(qfunc.Levels(3))
		return l, b
	}
	l.Input = InputQuant(qfunc.Clipped(2.5, 15))
	l.Weights = WeightSpec{Enc: WeightsInt, Bits: 4, Levels: randLevels(rng, out*k*k*in, -8, 7, false), Scale: []float32{0.02}}
	return l, b
}

// intResSpec is a small residual network of integer layers: two stem
// convs (the second strided, on the direct int8 kernel), an identity block, a downsampling block with a 1×1 shortcut (int8,
// Winograd-sized where the CPU has it) and a bit-serial block.
func intResSpec(seed uint64) Spec {
	rng := rand.New(rand.NewPCG(seed, 5))
	relu := LayerSpec{Kind: LayerReLU}
	conv := func(kernel, name string, in, out, k, stride, pad int) []LayerSpec {
		l, b := intLinear(rng, kernel, name, in, out, k, stride, pad)
		return []LayerSpec{l, b}
	}
	cat := func(parts ...[]LayerSpec) []LayerSpec {
		var ls []LayerSpec
		for _, p := range parts {
			ls = append(ls, p...)
		}
		return ls
	}
	ls := cat(conv(KernelInt8, "a", 64, 64, 3, 1, 1), []LayerSpec{relu}, conv(KernelInt8, "a2", 64, 64, 3, 2, 1), []LayerSpec{relu})
	ls = append(ls, LayerSpec{Kind: LayerResidual, Body: cat(conv(KernelInt8, "b", 64, 64, 3, 1, 1), []LayerSpec{relu},
		conv(KernelInt8, "c", 64, 64, 3, 1, 1))}, relu)
	ls = append(ls, LayerSpec{Kind: LayerResidual, Body: cat(conv(KernelInt8, "d", 64, 128, 3, 2, 1), []LayerSpec{relu},
		conv(KernelInt8, "e", 128, 128, 3, 1, 1)), Shortcut: conv(KernelInt8, "f", 64, 128, 1, 2, 0)}, relu)
	ls = append(ls, LayerSpec{Kind: LayerResidual, Body: cat(conv(KernelBitSerial, "g", 128, 128, 3, 1, 1), []LayerSpec{relu},
		conv(KernelBitSerial, "h", 128, 128, 3, 1, 1))}, relu)
	ls = append(ls, LayerSpec{Kind: LayerAvgPool, Global: true}, LayerSpec{Kind: LayerFlatten},
		LayerSpec{Kind: LayerDense, Kernel: KernelFloat, In: 128, Out: 3, Weights: WeightSpec{Enc: WeightsF32, Float: randF(rng, 3*128, 0.1)}})
	return Spec{Input: []int{9, 8, 64}, Classes: 3, Layers: ls}
}

// TestFusedInteger: integer layers run their BatchNorm, activation and
// residual sum in the kernel's epilogue (every integer layer of the
// fused list is a fusedInt), an int8 layer's input codes are written by
// the layer before where it is the only consumer, and the logits are the
// unfused path's bit for bit, with and without the assembly kernels, at 1
// and 2 threads.
func TestFusedInteger(t *testing.T) {
	fused, plain := newModels(t, intResSpec(1))
	count, codes := 0, 0
	var walk func(ls []layer)
	walk = func(ls []layer) {
		for _, l := range ls {
			switch v := l.(type) {
			case *fusedInt:
				count++
				if v.codesTo != nil {
					codes++
				}
			case *linear:
				if v.isInteger() {
					t.Errorf("integer layer %s is not fused", v.name)
				}
			case *fusedResidual:
				walk(v.body)
				walk(v.shortcut)
			}
		}
	}
	walk(fused.fused)
	if count != 9 {
		t.Errorf("%d fused integer layers, want 9", count)
	}
	// a → a2, b → c, d → e write the next layer's codes.
	if codes != 3 {
		t.Errorf("%d layers write the next one's codes, want 3", codes)
	}
	x := randF(rand.New(rand.NewPCG(2, 2)), 3*9*8*64, 1.5)
	bothPaths(t, func(t *testing.T) {
		for _, th := range []int{1, 2} {
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(th))
				samePredict(t, fused, plain, x, 3)
			}()
		}
	})
}

// BenchmarkInt8Layer times one LSQ-style int8 ResNet-18 3×3 layer
// (batch 1, one thread, with its BatchNorm and ReLU fused) on the
// Winograd path and, as "direct", with the Winograd weights removed.
// GOPS counts the direct convolution's 2·MACs.
func BenchmarkInt8Layer(b *testing.B) {
	for _, sh := range []struct{ side, cin, cout, stride int }{
		{56, 64, 64, 1}, {28, 128, 128, 1}, {14, 256, 256, 1}, {7, 512, 512, 1}, {56, 64, 128, 2}, {14, 256, 512, 2},
	} {
		rng := rand.New(rand.NewPCG(3, 3))
		l, bn := intLinear(rng, KernelInt8, "l", sh.cin, sh.cout, 3, sh.stride, 1)
		s := Spec{Input: []int{sh.side, sh.side, sh.cin}, Classes: 1, Layers: []LayerSpec{l, bn, {Kind: LayerReLU}}}
		oh := (sh.side-1)/sh.stride + 1
		s.Classes = oh * oh * sh.cout
		x := randF(rng, sh.side*sh.side*sh.cin, 1.5)
		for _, wino := range []bool{true, false} {
			m, err := NewModel(s)
			if err != nil {
				b.Fatal(err)
			}
			lin := m.layers[0].(*linear)
			if !wino {
				lin.wino = nil
			} else if lin.wino == nil {
				continue
			}
			name := fmt.Sprintf("%dx%dx%d-%d/s%d/wino=%v", sh.side, sh.side, sh.cin, sh.cout, sh.stride, wino)
			b.Run(name, func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				for b.Loop() {
					if _, err := m.Predict(x, 1); err != nil {
						b.Fatal(err)
					}
				}
				macs := float64(oh * oh * sh.cout * 9 * sh.cin)
				b.ReportMetric(2*macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
			})
		}
	}
}
