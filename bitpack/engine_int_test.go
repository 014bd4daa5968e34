package bitpack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// layerCase is one conv or dense layer run alone by the engine.
type layerCase struct {
	kernel            string
	dense             bool
	h, w, cin, cout   int
	k, stride, pad, n int
	q                 InputQuant
	wenc              string // WeightsSign, WeightsDoReFa, WeightsInt, WeightsF32
	bias              bool
}

func (c layerCase) String() string {
	return fmt.Sprintf("%s/dense=%v/%dx%dx%d→%d/k%d/s%d/p%d/n%d/%s/%s", c.kernel, c.dense, c.h, c.w, c.cin, c.cout, c.k, c.stride, c.pad, c.n, c.q, c.wenc)
}

// spec builds a one-layer Spec for c.
func (c layerCase) spec(rng *rand.Rand) Spec {
	k := c.k * c.k * c.cin
	ls := LayerSpec{Kind: LayerConv, Name: "l", Kernel: c.kernel, In: c.cin, Out: c.cout, KH: c.k, KW: c.k,
		Stride: c.stride, Pad: c.pad, Input: c.q}
	oh, ow := (c.h+2*c.pad-c.k)/c.stride+1, (c.w+2*c.pad-c.k)/c.stride+1
	classes := oh * ow * c.cout
	if c.dense {
		k = c.h * c.w * c.cin
		ls = LayerSpec{Kind: LayerDense, Name: "l", Kernel: c.kernel, In: k, Out: c.cout, Input: c.q}
		classes = c.cout
	}
	nw := c.cout * k
	switch c.wenc {
	case WeightsSign:
		ls.Weights = WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, nw, -1, 1, true), Scale: randF(rng, c.cout, 0.1)}
	case WeightsDoReFa:
		ls.Weights = WeightSpec{Enc: WeightsDoReFa, Bits: 2, Levels: randLevels(rng, nw, 0, 3, false), Scale: []float32{1.0 / 3}}
	case WeightsInt:
		ls.Weights = WeightSpec{Enc: WeightsInt, Bits: 4, Levels: randLevels(rng, nw, -8, 7, false), Scale: []float32{0.02}}
	default:
		ls.Weights = WeightSpec{Enc: WeightsF32, Float: randF(rng, nw, 0.3)}
	}
	if c.bias {
		ls.Bias = randF(rng, c.cout, 0.1)
	}
	return Spec{Info: ModelInfo{Name: "one"}, Input: []int{c.h, c.w, c.cin}, Classes: classes, Layers: []LayerSpec{ls}}
}

func intCases() []layerCase {
	a2, a1 := InputQuant(qfunc.Levels(3)), InputQuant(qfunc.Levels(1))
	lsq, pact := InputQuant(qfunc.Step(0.11, -8, 7)), InputQuant(qfunc.Clipped(2.5, 15))
	var cs []layerCase
	for _, g := range []struct{ h, w, cin, cout, k, stride, pad int }{
		{7, 6, 64, 70, 3, 1, 1}, {9, 9, 128, 64, 3, 2, 1}, {5, 7, 64, 33, 1, 1, 0}, {8, 8, 64, 128, 1, 2, 0},
		{6, 5, 70, 40, 3, 1, 1}, {6, 6, 3, 17, 3, 2, 0}, {4, 4, 130, 65, 2, 1, 1},
		// Winograd (wino.go) with the assembly kernels: odd and even sizes,
		// pad 0 and 2, more than one block of tile rows.
		{7, 7, 64, 128, 3, 1, 1}, {6, 9, 128, 64, 3, 1, 0}, {5, 4, 64, 64, 3, 1, 2}, {20, 3, 64, 64, 3, 1, 1},
	} {
		for _, n := range []int{1, 3} {
			c := layerCase{h: g.h, w: g.w, cin: g.cin, cout: g.cout, k: g.k, stride: g.stride, pad: g.pad, n: n, bias: n == 3}
			b1, b2, b3, i4, i8 := c, c, c, c, c
			b1.kernel, b1.q, b1.wenc = KernelBitSerial, a2, WeightsSign
			b2.kernel, b2.q, b2.wenc = KernelBitSerial, a1, WeightsDoReFa
			b3.kernel, b3.q, b3.wenc = KernelBitSerial, a2, WeightsDoReFa
			i4.kernel, i4.q, i4.wenc = KernelInt8, lsq, WeightsInt
			i8.kernel, i8.q, i8.wenc = KernelInt8, pact, WeightsSign
			cs = append(cs, b1, b2, b3, i4, i8)
		}
	}
	d := layerCase{kernel: KernelInt8, dense: true, h: 1, w: 1, cin: 200, cout: 77, k: 1, stride: 1, n: 2, q: lsq, wenc: WeightsInt, bias: true}
	return append(cs, d)
}

// TestEngineIntegerPaths: every integer layer shape gives the naive
// accumulators and y = float32(scale·float64(acc)) + bias exactly, at 1
// and 2 threads, with and without the assembly kernels.
func TestEngineIntegerPaths(t *testing.T) {
	for i, c := range intCases() {
		t.Run(c.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			s := c.spec(rng)
			m, err := NewModel(s)
			if err != nil {
				t.Fatal(err)
			}
			x := randF(rng, c.n*c.h*c.w*c.cin, 1.5)
			for _, th := range []int{1, 2} {
				for _, asm := range []bool{true, false} {
					checkIntegerLayer(t, m, s.Layers[0], x, c.n, th, asm)
				}
			}
		})
	}
}

func checkIntegerLayer(t *testing.T, m *Model, ls LayerSpec, x []float32, n, threads int, asm bool) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	defer UseAsm(asm)()
	l := m.layers[0].(*linear)
	_, err := m.Trace(x, n, func(tr Trace) error {
		ref := naiveAcc(ls, tr)
		for i, v := range ref {
			if int64(tr.Acc[i]) != v {
				return fmt.Errorf("threads %d asm %v: acc[%d] = %d, naive %d", threads, asm, i, tr.Acc[i], v)
			}
		}
		for i, d := range tr.Acc {
			o := i % l.cout
			want := float32(l.scale[o] * float64(d))
			if l.bias != nil {
				want += l.bias[o]
			}
			if math.Float32bits(tr.Out[i]) != math.Float32bits(want) {
				return fmt.Errorf("threads %d asm %v: out[%d] = %g, want %g", threads, asm, i, tr.Out[i], want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
