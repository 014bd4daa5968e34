package export_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// equivRecipes are the recipes the packed engine supports, with the kernel
// each quantized body layer must get.
var equivRecipes = []struct {
	name   string
	kernel string // kernel of conv5 and dense10, the quantized body layers
}{
	{"xnor", bitpack.KernelXNOR},
	{"bnn", bitpack.KernelXNOR},
	{"dorefa-w1a2", bitpack.KernelBitSerial},
	{"lsq-w4a4", bitpack.KernelInt8},
}

// intRefImages is how many test images the integer-accumulator check
// recomputes with the naive reference.
const intRefImages = 100

// TestEquivalence is the packed engine's contract: for every supported
// recipe, LeNet-5 trained on real MNIST, frozen and run by the engine,
// agrees with the training graph's eval forward on all 10k test images —
// the same argmax everywhere, logits within 1e-4 relative to the row's
// largest |logit|, and the integer kernels' accumulators bit-identical to
// an int64 reference computed from the training side's quantized values.
// Predict (with the binary chains fused into thresholds) and Trace (the
// float path between them) give bit-identical logits.
func TestEquivalence(t *testing.T) {
	for _, rc := range equivRecipes {
		t.Run(rc.name, func(t *testing.T) {
			t0 := time.Now()
			m, data := trained(t, rc.name)
			tTrain := time.Since(t0)
			bm, err := export.Freeze(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range bm.Report() {
				if (r.Name == "conv5" || r.Name == "dense10") && r.Kernel != rc.kernel {
					t.Errorf("%s runs on kernel %s, want %s", r.Name, r.Kernel, rc.kernel)
				}
			}
			// Through the file format, as a user would run it.
			b, err := bm.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if bm, err = bitpack.Decode(b); err != nil {
				t.Fatal(err)
			}
			ni := equivImages(len(data.y))
			xs, ys := data.x[:ni*len(data.x)/len(data.y)], data.y[:ni]
			t0 = time.Now()
			want := graphLogits(t, m, xs, ys)
			tGraph := time.Since(t0)
			t0 = time.Now()
			got, err := bm.Predict(xs, ni)
			tEngine := time.Since(t0)
			if err != nil {
				t.Fatal(err)
			}
			// Trace runs the float path between binary layers; Predict folds
			// BatchNorm+sign into integer thresholds where binary layers
			// follow each other, which must not change one logit bit.
			plain, err := bm.Trace(xs, ni, func(bitpack.Trace) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			for i := range plain {
				if math.Float32bits(got[i]) != math.Float32bits(plain[i]) {
					t.Fatalf("logit %d: %g with the fused thresholds, %g on the float path", i, got[i], plain[i])
				}
			}
			classes := m.Spec.Classes
			agree, correct, worst, worstRow := 0, 0, 0.0, 0
			for i := range ys {
				g, w := got[i*classes:(i+1)*classes], want[i*classes:(i+1)*classes]
				if argmax(g) == argmax(w) {
					agree++
				}
				if argmax(g) == int(ys[i]) {
					correct++
				}
				var scale, diff float64
				for j := range w {
					scale = max(scale, math.Abs(float64(w[j])))
					diff = max(diff, math.Abs(float64(g[j]-w[j])))
				}
				if rel := diff / max(scale, 1e-30); rel > worst {
					worst, worstRow = rel, i
				}
			}
			n := ni
			t.Logf("%s: argmax agreement %d/%d (%.2f%%), max relative logit difference %.3g (image %d), engine accuracy %.2f%%, file %d bytes",
				rc.name, agree, n, 100*float64(agree)/float64(n), worst, worstRow, 100*float64(correct)/float64(n), len(b))
			if agree != n {
				t.Errorf("argmax agreement %d/%d, want 100%%", agree, n)
			}
			if worst > 1e-4 {
				t.Errorf("max relative logit difference %.3g (image %d), want <= 1e-4", worst, worstRow)
			}
			t0 = time.Now()
			checkAccumulators(t, m, bm, xs[:intRefImages*len(xs)/n], intRefImages)
			t.Logf("times: train %v, graph forward %v, engine %v, integer reference %v", tTrain, tGraph, tEngine, time.Since(t0))
		})
	}
}

// checkAccumulators traces the engine and recomputes every integer
// layer's accumulators from the training layer's own quantizers: the
// training input quantizer applied to the layer's input, the training
// weights q_w(W), both divided by their scale to integer codes, and a
// naive int64 convolution.
func checkAccumulators(t *testing.T, m *models.Model, bm *bitpack.Model, x []float32, n int) {
	t.Helper()
	byName := map[string]layers.Layer{}
	layers.Walk(m.Net, func(l layers.Layer) { byName[l.Name()] = l })
	checked := 0
	_, err := bm.Trace(x, n, func(tr bitpack.Trace) error {
		if tr.Acc == nil {
			return nil
		}
		ref, err := intReference(byName[tr.Name], tr)
		if err != nil {
			return fmt.Errorf("%s: %w", tr.Name, err)
		}
		for i, v := range ref {
			if int64(tr.Acc[i]) != v {
				return fmt.Errorf("%s (%s): accumulator %d is %d, integer reference %d", tr.Name, tr.Kernel, i, tr.Acc[i], v)
			}
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no integer layer was traced")
	}
}

// codes divides quantized values by their step and checks that the result
// is an integer.
func codes(v []float32, step func(i int) float64, what string) ([]int64, error) {
	out := make([]int64, len(v))
	for i, x := range v {
		s := step(i)
		c := math.Round(float64(x) / s)
		if math.Abs(float64(x)-c*s) > 1e-5*math.Abs(s)*max(1, math.Abs(c)) {
			return nil, fmt.Errorf("%s value %g is not a multiple of its step %g", what, x, s)
		}
		out[i] = int64(c)
	}
	return out, nil
}

// refLayer is what intReference reads from a training layer.
type refLayer struct {
	wq, iq           ste.Quantizer
	w                []float32 // quantized weights
	iqf, wqf         ste.Func
	iqp, wp          []*layers.Param
	cout, kk, s, pad int
}

func refLayerOf(l layers.Layer) (refLayer, error) {
	var r refLayer
	var err error
	switch v := l.(type) {
	case *layers.Conv2D:
		r.wq, r.iq = v.Quantizers()
		r.iqf, r.iqp = v.InputQuantizer()
		r.wqf, r.wp = v.WeightQuantizer()
		r.w, err = v.QuantizedWeights()
		c := v.Config()
		r.cout, r.kk, r.s, r.pad = c.Out, c.Kernel, max(c.Stride, 1), c.Pad
	case *layers.Dense:
		r.wq, r.iq = v.Quantizers()
		r.iqf, r.iqp = v.InputQuantizer()
		r.wqf, r.wp = v.WeightQuantizer()
		r.w, err = v.QuantizedWeights()
		r.cout, r.kk, r.s = v.Config().Out, 1, 1
	default:
		return r, fmt.Errorf("no training layer (%T)", l)
	}
	return r, err
}

// inputStep is the value of one input code, from the input quantizer's
// inference descriptor (1 for sign).
func inputStep(r refLayer, ps [][]float32) (float64, error) {
	d, ok, err := ste.Infer(r.iqf, ps)
	if err != nil || !ok || d.Kind == ste.DescIdentity {
		return 0, fmt.Errorf("no integer reference for input quantizer %s (%v)", r.iq, err)
	}
	return d.Scale(), nil
}

// weightStep is the value of one weight level: the step of a Linear weight
// descriptor (LSQ), or |w| for 1-bit weights (±α_o XNOR, ±1 Sign, ±E DoReFa k=1).
func weightStep(r refLayer) (func(i int) float64, error) {
	ps := make([][]float32, len(r.wp))
	for i, p := range r.wp {
		ps[i] = p.Data()
	}
	if d, ok, err := ste.Infer(r.wqf, ps); err == nil && ok && d.HasCodes() {
		st := d.Scale()
		return func(int) float64 { return st }, nil
	}
	if ste.BitsFor(r.wq, ste.Weights) == 1 {
		return func(i int) float64 { return math.Abs(float64(r.w[i])) }, nil
	}
	return nil, fmt.Errorf("no integer reference for weight quantizer %s", r.wq)
}

func intReference(l layers.Layer, tr bitpack.Trace) ([]int64, error) {
	r, err := refLayerOf(l)
	if err != nil {
		return nil, err
	}
	w, iqf, iqp := r.w, r.iqf, r.iqp
	cout, kk, s, pad := r.cout, r.kk, r.s, r.pad
	// Training-side quantized input.
	xq := make([]float32, len(tr.In))
	ps := make([][]float32, len(iqp))
	for i, p := range iqp {
		ps[i] = append([]float32(nil), p.Data()...)
	}
	if err := iqf.Forward(xq, tr.In, ps, ste.Ctx{Rows: tr.N}); err != nil {
		return nil, err
	}
	xs, err := inputStep(r, ps)
	if err != nil {
		return nil, err
	}
	xc, err := codes(xq, func(int) float64 { return xs }, "input")
	if err != nil {
		return nil, err
	}
	k := len(w) / cout
	wstep, err := weightStep(r)
	if err != nil {
		return nil, err
	}
	wc, err := codes(w, wstep, "weight")
	if err != nil {
		return nil, err
	}
	// Dense: 1×1 on the flattened input.
	g := convGeom{h: 1, w: 1, c: k, cout: cout, kk: kk, s: s, pad: pad}
	if len(tr.InDims) == 3 && kk > 1 || pad > 0 || s > 1 {
		g.h, g.w, g.c = tr.InDims[0], tr.InDims[1], tr.InDims[2]
	}
	if _, ok := l.(*layers.Conv2D); ok {
		g.h, g.w, g.c = tr.InDims[0], tr.InDims[1], tr.InDims[2]
	}
	return naiveConv(xc, wc, tr.N, g), nil
}

// convGeom is an h×w×c input, cout kk×kk filters, stride s, zero padding pad.
type convGeom struct{ h, w, c, cout, kk, s, pad int }

// naiveConv is the NHWC × OHWI convolution of n images of codes xc with
// weight codes wc, in exact integers.
func naiveConv(xc, wc []int64, n int, g convGeom) []int64 {
	h, wd, c, cout, kk, s, pad := g.h, g.w, g.c, g.cout, g.kk, g.s, g.pad
	k := kk * kk * c
	oh, ow := (h+2*pad-kk)/s+1, (wd+2*pad-kk)/s+1
	out := make([]int64, n*oh*ow*cout)
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				row := out[((b*oh+y)*ow+x)*cout:][:cout]
				for o := range row {
					var acc int64
					for ky := 0; ky < kk; ky++ {
						iy := y*s - pad + ky
						if iy < 0 || iy >= h {
							continue
						}
						for kx := 0; kx < kk; kx++ {
							ix := x*s - pad + kx
							if ix < 0 || ix >= wd {
								continue
							}
							xr := xc[((b*h+iy)*wd+ix)*c:][:c]
							wr := wc[o*k+(ky*kk+kx)*c:][:c]
							for i, v := range xr {
								acc += v * wr[i]
							}
						}
					}
					row[o] = acc
				}
			}
		}
	}
	return out
}

// TestUnsupportedQuantizer: a model whose input quantizer derives its step
// from each batch cannot be reproduced sample by sample; Freeze says so,
// naming the layer and the quantizer.
func TestUnsupportedQuantizer(t *testing.T) {
	m, err := models.New(models.Spec{Name: "lenet5", Weights: ste.XNOR{}, Inputs: ste.Scaled{Bits: 4}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = export.Freeze(m)
	if !errors.Is(err, export.ErrUnsupported) {
		t.Fatalf("Freeze: %v, want ErrUnsupported", err)
	}
	for _, s := range []string{"conv5", "scaled"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}
