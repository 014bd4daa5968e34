package export

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// ErrUnsupported reports a layer or quantizer the packed engine cannot
// reproduce exactly.
var ErrUnsupported = errors.New("export: not supported by the packed engine")

// Freeze converts a trained model into a packed bitpack.Model. The model
// keeps the input normalisation and class names its spec holds (recipes
// records them from the training data, and Checkpoint.Restore from the
// checkpoint's dataset), so that Write can save it; see FreezeWith for
// the rest of the metadata.
func Freeze(m *models.Model) (*bitpack.Model, error) {
	return FreezeWith(m, bitpack.ModelInfo{})
}

// FreezeWith is Freeze with the model metadata info (recipe, dataset,
// input normalisation, class names) stored in the file header. Empty
// fields of info take the model's: Name, Mean and Std (unless
// info.RawInput), ClassNames.
func FreezeWith(m *models.Model, info bitpack.ModelInfo) (*bitpack.Model, error) {
	if m == nil || m.Net == nil {
		return nil, fmt.Errorf("export: nil model")
	}
	if info.Name == "" {
		info.Name = m.Spec.Name
	}
	if len(info.Std) == 0 && !info.RawInput {
		info.Mean, info.Std = m.Spec.Mean, m.Spec.Std
	}
	if len(info.ClassNames) == 0 {
		info.ClassNames = m.Spec.ClassNames
	}
	ls, err := freezeLayers(m.Net.Layers)
	if err != nil {
		return nil, err
	}
	bm, err := bitpack.NewModel(bitpack.Spec{Info: info, Input: m.Spec.Input, Classes: m.Spec.Classes, Layers: ls})
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", m.Spec.Name, err)
	}
	return bm, nil
}

// ErrMetadata reports a model Write refuses: one without the input
// normalisation or the class names that a user of the file needs to feed
// it images and read its output.
var ErrMetadata = errors.New("export: model file metadata missing")

// Write saves bm to path atomically (temporary file, fsync, rename). It
// refuses, with ErrMetadata, a model without class names (one per class)
// or without input normalisation (Mean and Std, one per input channel):
// a model exported without them reads images wrongly and silently. A
// model whose input is not an image opts out of the normalisation with
// ModelInfo.RawInput. (bitpack.Model.Save writes any model unchecked.)
func Write(path string, bm *bitpack.Model) error {
	if err := CheckMetadata(bm); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return bm.Save(path)
}

// CheckMetadata returns the error Write reports for bm's metadata, or nil.
func CheckMetadata(bm *bitpack.Model) error {
	info, c := bm.Info(), bm.Input()[2]
	switch {
	case len(info.ClassNames) != bm.Classes():
		return fmt.Errorf("%w: %d class names for %d classes (train with recipes, which records them, or set ModelInfo.ClassNames)", ErrMetadata, len(info.ClassNames), bm.Classes())
	case info.RawInput:
		return nil
	case len(info.Std) != c || len(info.Mean) != c:
		return fmt.Errorf("%w: input normalisation for %d/%d channels, the input has %d (train with recipes, which records it, set ModelInfo.Mean and Std, or ModelInfo.RawInput for a non-image input)", ErrMetadata, len(info.Mean), len(info.Std), c)
	}
	for i, s := range info.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(info.Mean[i])) || math.IsInf(float64(info.Mean[i]), 0) {
			return fmt.Errorf("%w: channel %d normalised by mean %g, std %g", ErrMetadata, i, info.Mean[i], s)
		}
	}
	return nil
}

func freezeLayers(ls []layers.Layer) ([]bitpack.LayerSpec, error) {
	var out []bitpack.LayerSpec
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.Sequential:
			sub, err := freezeLayers(v.Layers)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case *layers.Dropout:
			// identity in evaluation
		default:
			s, err := freezeLayer(l)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func freezeLayer(l layers.Layer) (bitpack.LayerSpec, error) {
	s := bitpack.LayerSpec{Name: l.Name()}
	switch v := l.(type) {
	case *layers.Conv2D:
		c := v.Config()
		s.Kind, s.In, s.Out, s.KH, s.KW, s.Stride, s.Pad = bitpack.LayerConv, c.In, c.Out, c.Kernel, c.Kernel, max(c.Stride, 1), c.Pad
		wq, iq := v.Quantizers()
		wqf, wp := v.WeightQuantizer()
		iqf, iqp := v.InputQuantizer()
		w, err := v.QuantizedWeights()
		if err != nil {
			return s, fmt.Errorf("export: %w", err)
		}
		return linear(s, weightQuant{wq, wqf, wp}, w, iq, iqf, iqp, v.B)
	case *layers.Dense:
		c := v.Config()
		s.Kind, s.In, s.Out, s.KH, s.KW, s.Stride = bitpack.LayerDense, c.In, c.Out, 1, 1, 1
		wq, iq := v.Quantizers()
		wqf, wp := v.WeightQuantizer()
		iqf, iqp := v.InputQuantizer()
		w, err := v.QuantizedWeights()
		if err != nil {
			return s, fmt.Errorf("export: %w", err)
		}
		return linear(s, weightQuant{wq, wqf, wp}, w, iq, iqf, iqp, v.B)
	case *layers.BatchNorm:
		s.Kind = bitpack.LayerBatchNorm
		if v.Gamma != nil {
			s.Gamma = clone(v.Gamma.Data())
		}
		s.Beta, s.Mean, s.Var, s.Eps = clone(v.Beta.Data()), clone(v.RunMean), clone(v.RunVar), v.Config().Eps
	case *layers.Activation:
		switch v.Kind() {
		case "relu":
			s.Kind = bitpack.LayerReLU
		case "hardtanh":
			s.Kind = bitpack.LayerHardTanh
		default:
			return s, fmt.Errorf("%w: layer %s: activation %q", ErrUnsupported, l.Name(), v.Kind())
		}
	case *layers.Pool:
		c := v.Config()
		s.Kind, s.Size, s.Stride, s.Global = bitpack.LayerAvgPool, c.Size, c.Stride, c.Global
		if v.IsMax() {
			s.Kind = bitpack.LayerMaxPool
		}
	case *layers.Flatten:
		s.Kind = bitpack.LayerFlatten
	case *layers.Residual:
		s.Kind = bitpack.LayerResidual
		var err error
		if s.Body, err = freezeLayers([]layers.Layer{v.Body}); err != nil {
			return s, err
		}
		if v.Shortcut != nil {
			if s.Shortcut, err = freezeLayers([]layers.Layer{v.Shortcut}); err != nil {
				return s, err
			}
			if s.Shortcut == nil {
				s.Shortcut = []bitpack.LayerSpec{}
			}
		}
	default:
		return s, fmt.Errorf("%w: layer %s: type %T", ErrUnsupported, l.Name(), l)
	}
	return s, nil
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }

// linear fills a conv or dense spec: the input quantizer, the weights in
// their smallest exact encoding, and the fastest kernel that fits both.
// weightQuant is a layer's weight quantizer: spec, built function, parameters.
type weightQuant struct {
	q  ste.Quantizer
	f  ste.Func
	ps []*layers.Param
}

func linear(s bitpack.LayerSpec, wq weightQuant, w []float32,
	iq ste.Quantizer, iqf ste.Func, iqp []*layers.Param, b *layers.Param) (bitpack.LayerSpec, error) {
	var err error
	if s.Input, err = inputQuant(s.Name, iq, iqf, iqp); err != nil {
		return s, err
	}
	if b != nil {
		s.Bias = clone(b.Data())
	}
	rows, k := s.Out, len(w)/s.Out
	s.Weights = encodeWeights(wq, w, rows, k)
	s.Kernel = chooseKernel(s.Input, &s.Weights)
	return s, nil
}

// inputQuant maps a training input quantizer to the engine's and checks
// on a probe that both give bit-identical values.
func inputQuant(layer string, q ste.Quantizer, f ste.Func, ps []*layers.Param) (bitpack.InputQuant, error) {
	var out bitpack.InputQuant
	if q == nil {
		return out, nil
	}
	unsupported := func(why string) error {
		return fmt.Errorf("%w: layer %s: input quantizer %s: %s", ErrUnsupported, layer, q, why)
	}
	if f == nil {
		return out, unsupported("not built (the layer has not seen its input shape)")
	}
	vals := make([][]float32, len(ps))
	for i, p := range ps {
		vals[i] = clone(p.Data())
	}
	d, ok, err := ste.Infer(f, vals)
	if err != nil {
		return out, unsupported(err.Error())
	}
	if !ok {
		return out, unsupported("its output depends on more than the value itself (batch statistics or per-sample scales)")
	}
	out = bitpack.InputQuant(d)
	if err := out.Validate(); err != nil {
		return out, unsupported(err.Error())
	}
	// Probe: the engine evaluates the descriptor with the training forward's
	// scalar code; confirm it reproduces the forward exactly.
	x := probe(out)
	want := make([]float32, len(x))
	if err := f.Forward(want, x, vals, ste.Ctx{Rows: 1}); err != nil {
		return out, unsupported(err.Error())
	}
	got := make([]float32, len(x))
	out.Quantize(got, x)
	for i := range x {
		if got[i] != want[i] {
			return out, unsupported(fmt.Sprintf("the engine gives %g at x=%g, training gives %g", got[i], x[i], want[i]))
		}
	}
	return out, nil
}

// probe returns inputs that cover the quantizer's range densely, its
// rounding boundaries and random values.
func probe(q bitpack.InputQuant) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1e-30, -1e-30, 1e30, -1e30}
	for i := -4096; i <= 4096; i++ {
		x = append(x, float32(i)/512)
	}
	if q.HasCodes() {
		s := float32(q.Scale())
		for c := -q.Offset() - 1; c <= q.MaxCode()-q.Offset()+1; c++ {
			mid := (float32(c) + 0.5) * s
			x = append(x, mid, math.Nextafter32(mid, -1e30), math.Nextafter32(mid, 1e30), float32(c)*s)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4096 {
		x = append(x, float32(rng.NormFloat64()*2))
	}
	return x
}

// encodeWeights finds the smallest encoding that reproduces w exactly:
// sign (±α per row or per layer), int (a Linear weight descriptor, LSQ's
// step), dorefa (k-bit DoReFa levels), ternary, or f32. Every candidate is
// checked by dequantizing it, so trying one that does not fit costs only time.
func encodeWeights(wq weightQuant, w []float32, rows, k int) bitpack.WeightSpec {
	f32 := bitpack.WeightSpec{Enc: bitpack.WeightsF32, Float: clone(w)}
	if wq.q == nil {
		return f32
	}
	var cands []bitpack.WeightSpec
	if c, ok := signWeights(w, rows, k); ok {
		cands = append(cands, c)
	}
	bits := wq.q.BitsFor(ste.Weights)
	vals := make([][]float32, len(wq.ps))
	for i, p := range wq.ps {
		vals[i] = p.Data()
	}
	if d, ok, err := ste.Infer(wq.f, vals); ok && err == nil && d.HasCodes() && bits <= 8 {
		cands = append(cands, lsqWeights(w, bits, float32(d.Scale())))
	}
	if bits > 1 && bits < 8 {
		cands = append(cands, dorefaWeights(w, bits))
	}
	if len(wq.ps) == 1 && len(wq.ps[0].Data()) == rows && rows > 1 && bits <= 8 {
		// One parameter per output row, tried as each row's step (post-training
		// quantization's per-channel steps); exact() below keeps it only if it
		// reproduces the quantized weights bit for bit.
		cands = append(cands, rowWeights(w, bits, wq.ps[0].Data(), k))
	}
	cands = append(cands, ternaryWeights(w))
	for _, c := range cands {
		if exact(&c, w, rows, k) {
			return c
		}
	}
	return f32
}

// exact reports whether c passes validation and dequantizes to w exactly.
func exact(c *bitpack.WeightSpec, w []float32, rows, k int) bool {
	if c.Enc == "" {
		return false
	}
	if c.Check(rows, k) != nil {
		return false
	}
	d := c.Dequantize(rows, k)
	for i, v := range w {
		if d[i] != v {
			return false
		}
	}
	return true
}

func signWeights(w []float32, rows, k int) (bitpack.WeightSpec, bool) {
	c := bitpack.WeightSpec{Enc: bitpack.WeightsSign, Bits: 1, Levels: make([]int8, len(w)), Scale: make([]float32, rows)}
	same := true
	for r := 0; r < rows; r++ {
		row := w[r*k : (r+1)*k]
		a := float32(math.Abs(float64(row[0])))
		for i, v := range row {
			if float32(math.Abs(float64(v))) != a {
				return c, false
			}
			c.Levels[r*k+i] = 1
			if v < 0 {
				c.Levels[r*k+i] = -1
			}
		}
		c.Scale[r] = a
		same = same && a == c.Scale[0]
	}
	if same {
		c.Scale = c.Scale[:1]
	}
	return c, true
}

// ternaryWeights tries value = level·α with levels in {−1, 0, 1} and α the
// smallest nonzero |w| (TWN).
func ternaryWeights(w []float32) bitpack.WeightSpec {
	var minAbs float32
	for _, v := range w {
		if a := float32(math.Abs(float64(v))); a > 0 && (minAbs == 0 || a < minAbs) {
			minAbs = a
		}
	}
	if minAbs == 0 {
		return bitpack.WeightSpec{}
	}
	return lsqWeights(w, 2, minAbs)
}

// lsqWeights tries value = float32(level)·s with signed bits-bit levels
// and the per-layer step s (LSQ's learned weight step).
func lsqWeights(w []float32, bits int, s float32) bitpack.WeightSpec {
	lo, hi := -(1 << (bits - 1)), 1<<(bits-1)-1
	c := bitpack.WeightSpec{Enc: bitpack.WeightsInt, Bits: bits, Levels: make([]int8, len(w)), Scale: []float32{s}}
	for i, v := range w {
		l := math.RoundToEven(float64(v) / float64(s))
		if l < float64(lo) || l > float64(hi) {
			return bitpack.WeightSpec{}
		}
		c.Levels[i] = int8(l)
	}
	return c
}

// rowWeights is lsqWeights with one step per row of k weights (or one for all).
func rowWeights(w []float32, bits int, steps []float32, k int) bitpack.WeightSpec {
	lo, hi := -(1 << (bits - 1)), 1<<(bits-1)-1
	c := bitpack.WeightSpec{Enc: bitpack.WeightsInt, Bits: bits, Levels: make([]int8, len(w)), Scale: clone(steps)}
	for i, v := range w {
		s := steps[min(i/k, len(steps)-1)]
		l := math.RoundToEven(float64(v) / float64(s))
		if l < float64(lo) || l > float64(hi) {
			return bitpack.WeightSpec{}
		}
		c.Levels[i] = int8(l)
	}
	return c
}

func dorefaWeights(w []float32, bits int) bitpack.WeightSpec {
	l := float64(int(1)<<bits - 1)
	c := bitpack.WeightSpec{Enc: bitpack.WeightsDoReFa, Bits: bits, Levels: make([]int8, len(w)), Scale: []float32{float32(1 / l)}}
	for i, v := range w {
		q := math.RoundToEven((float64(v) + 1) * l / 2)
		if q < 0 || q > l {
			return bitpack.WeightSpec{}
		}
		c.Levels[i] = int8(q)
	}
	return c
}

// chooseKernel picks the fastest kernel that computes the layer from its
// input codes and integer weight levels; anything else runs in float.
func chooseKernel(q bitpack.InputQuant, w *bitpack.WeightSpec) string {
	integer := w.Enc == bitpack.WeightsSign || w.Enc == bitpack.WeightsInt || w.Enc == bitpack.WeightsDoReFa
	switch {
	case !integer:
		return bitpack.KernelFloat
	case q.Kind == bitpack.QuantSign && w.Enc == bitpack.WeightsSign:
		return bitpack.KernelXNOR
	case q.HasCodes() && q.Offset() == 0 && q.MaxCode() <= 3 &&
		(w.Enc == bitpack.WeightsSign || w.Enc == bitpack.WeightsDoReFa && w.Bits == 2):
		return bitpack.KernelBitSerial
	case q.HasCodes() && q.MaxCode() <= 255:
		return bitpack.KernelInt8
	}
	return bitpack.KernelFloat
}
