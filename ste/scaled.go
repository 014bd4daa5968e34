package ste

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// ScaleMethod chooses how Scaled sets its step s.
type ScaleMethod int

const (
	// ScaleMax: s = max|x|/Q_P, so nothing is clipped (the "min-max" baseline).
	ScaleMax ScaleMethod = iota
	// ScaleMeanAbs: s = 2·mean|x|/√Q_P, LSQ's initialisation (Esser et al. 2020, §2.1).
	ScaleMeanAbs
	// ScaleMSE: s = c/Q_P for the clip c among max|x|·j/100, j = 1..100, that minimises
	// Σ(x − q(x))² (the first minimum wins), as in the MSE calibration of Banner et al. 2019
	// and the Nagel et al. 2021 white paper.
	ScaleMSE
	// ScalePercentile: s = c/Q_P with c the given percentile of |x| (linear interpolation
	// between order statistics, as numpy.percentile), as in McKinstry et al. 2019.
	ScalePercentile
	// ScaleLearned: s is a learnable Param "step" with LSQ's gradient (see LSQ).
	ScaleLearned
)

// String is the method's spec name, from Scaled.Method's enum tag.
func (m ScaleMethod) String() string {
	if s, err := schemaOf(reflect.TypeOf(Scaled{})); err == nil {
		if names := s.field("method").enum; m >= 0 && int(m) < len(names) {
			return names[m]
		}
	}
	return "ScaleMethod(" + strconv.Itoa(int(m)) + ")"
}

// Scaled is a uniform k-bit quantizer whose step comes from a chosen ScaleMethod, for
// comparing scale choices (Gholami et al. 2021, "A Survey of Quantization Methods",
// https://arxiv.org/abs/2103.13630, §III-B/C):
//
//	q(x)  = round(clip(x/s, −Q_N, Q_P))·s
//	q'(x) = 1{−Q_N·s ≤ x ≤ c}          (data-derived s, with c = Q_P·s the clip; s is a constant)
//	q'(x) = 1{−Q_N < x/s < Q_P},  ∂q/∂s as in LSQ, scaled by 1/√(N·Q_P)   (ScaleLearned)
//
// Signed b-bit: Q_N = 2^(b−1), Q_P = 2^(b−1)−1 (always on weights). Unsigned: Q_N = 0,
// Q_P = 2^b−1 (inputs unless Signed). The data-derived methods recompute s from the tensor
// on every call, per layer or per row (PerChannel: output channel for weights, sample for
// inputs); a group whose clip c is 0 quantizes to 0, and all-zero weights are an error.
// ScaleLearned keeps one step per layer, or per output channel with PerChannel (weights
// only); it starts at 2·mean|x|/√Q_P of the initial weights or of the first batch.
// Only ScaleMax and ScaleLearned give q(q(x)) = q(x); the other methods re-derive s from q(x).
type Scaled struct {
	Bits       int         `q:"bits,default=4,min=1,max=16,show"`                         // bit width
	Method     ScaleMethod `q:"method,enum=max|meanabs|mse|percentile|learned,show"`      // zero value: ScaleMax
	Signed     bool        `q:"signed"`                                                   // signed inputs (weights are always signed)
	Percentile float64     `q:"pct,default=99.99,gt=0,max=100,show,if=method=percentile"` // for ScalePercentile, in (0, 100]
	PerChannel bool        `q:"perchannel"`                                               // one scale per row instead of per tensor
}

func (Scaled) Name() string       { return "scaled" }
func (s Scaled) String() string   { return Format(s) }
func (s Scaled) BitsFor(Role) int { r, _ := Resolve(s); return r.Bits }
func (s Scaled) Symmetric() bool  { return s.Signed }
func (s Scaled) DataInit() bool   { return s.Method == ScaleLearned }

// Check: signed values need 2 bits.
func (s Scaled) Check() error { return checkSignedBits("scaled", s.Bits, s.Signed) }

func (s Scaled) Build(t Target) (Func, error) {
	s, err := Resolve(s)
	if err != nil {
		return nil, err
	}
	signed := s.Signed || t.Role == Weights
	if err := checkSignedBits("scaled", s.Bits, signed); err != nil {
		return nil, err
	}
	if s.Method < ScaleMax || s.Method > ScaleLearned {
		return nil, fmt.Errorf("%w: scaled: unknown method %v", ErrParam, s.Method)
	}
	if err := checkShape("scaled", t); err != nil {
		return nil, err
	}
	f := &scaledFunc{method: s.Method, perRow: s.PerChannel, pct: s.Percentile, weights: t.Role == Weights}
	qn, qp := signedRange(s.Bits, signed)
	f.qn, f.qp = float32(qn), float32(qp)
	if s.Method != ScaleLearned {
		return f, nil
	}
	return f.learned(s, t)
}

// learned sets up ScaleLearned: LSQ's gradient scale and the initial steps.
func (f *scaledFunc) learned(s Scaled, t Target) (Func, error) {
	if s.PerChannel && t.Role == Inputs {
		return nil, fmt.Errorf("%w: scaled: a learned step per channel needs weights (a batch has no fixed rows)", ErrParam)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	rows := 1
	if s.PerChannel {
		rows = t.Shape[0]
	}
	group := n / rows // elements sharing one step
	if t.Role == Inputs {
		group = n / t.Shape[0] // LSQ: features per sample
	}
	f.gscale = float32(1 / math.Sqrt(float64(group)*float64(f.qp)))
	f.step0 = make([]float32, rows)
	if len(t.Init) == n {
		m := n / rows
		for r := range f.step0 {
			f.step0[r] = f.initStep(t.Init[r*m : (r+1)*m])
		}
	}
	return f, nil
}

type scaledFunc struct {
	method  ScaleMethod
	qn, qp  float32 // clip range [−qn, qp] on x/s
	perRow  bool
	pct     float64
	weights bool
	gscale  float32   // ScaleLearned: LSQ's 1/√(N·Q_P)
	step0   []float32 // ScaleLearned: initial steps; zeros are set from the first tensor
}

func (f *scaledFunc) Params() []Param {
	if f.method != ScaleLearned {
		return nil
	}
	return []Param{{Name: "step", Data: append([]float32(nil), f.step0...)}}
}

func (f *scaledFunc) initStep(v []float32) float32 {
	return 2 * meanAbs(v) / float32(math.Sqrt(float64(f.qp)))
}

// steps returns the learned steps (one per group), initialising zeros from x.
func (f *scaledFunc) steps(x []float32, p [][]float32, n int) ([]float32, error) {
	if len(p) != 1 || len(p[0]) != len(f.step0) || len(x)/n != len(f.step0) {
		return nil, fmt.Errorf("ste: scaled: want one step parameter with %d values for %d groups", len(f.step0), len(x)/n)
	}
	st := p[0]
	for r := range st {
		if st[r] == 0 {
			st[r] = f.initStep(x[r*n : (r+1)*n])
		}
		if err := positive("scaled", "step", st[r]); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// clipOf returns the clip c (so s = c/Q_P) of one group for the data-derived methods.
func (f *scaledFunc) clipOf(x []float32, scratch []float32) float32 {
	switch f.method {
	case ScaleMeanAbs:
		return f.qp * f.initStep(x)
	case ScaleMSE:
		return f.mseClip(x)
	case ScalePercentile:
		a := scratch[:len(x)]
		for i, v := range x {
			a[i] = abs(v)
		}
		slices.Sort(a)
		pos := f.pct / 100 * float64(len(a)-1)
		i := int(pos)
		if i >= len(a)-1 {
			return a[len(a)-1]
		}
		fr := pos - float64(i)
		return float32(float64(a[i]) + fr*(float64(a[i+1])-float64(a[i])))
	}
	return maxAbs(x)
}

// mseCandidates is the number of clip values ScaleMSE tries.
const mseCandidates = 100

func (f *scaledFunc) mseClip(x []float32) float32 {
	m := maxAbs(x)
	if m == 0 {
		return 0
	}
	best, bestErr := m, math.Inf(1)
	for j := 1; j <= mseCandidates; j++ {
		c := m * float32(j) / mseCandidates
		s := c / f.qp
		var e float64
		for _, v := range x {
			d := float64(v - round(clip(v/s, -f.qn, f.qp))*s)
			e += d * d
		}
		if e < bestErr {
			best, bestErr = c, e
		}
	}
	return best
}

func (f *scaledFunc) Forward(y, x []float32, p [][]float32, c Ctx) error {
	if err := checkLenOf("scaled", y, x); err != nil {
		return err
	}
	n, err := groupLen("scaled", len(x), f.perRow, c)
	if err != nil {
		return err
	}
	if f.method == ScaleLearned {
		st, err := f.steps(x, p, n)
		if err != nil {
			return err
		}
		for r, s := range st {
			row, out := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
			for i, v := range row {
				out[i] = round(clip(v/s, -f.qn, f.qp)) * s
			}
		}
		return nil
	}
	if len(p) != 0 {
		return fmt.Errorf("ste: scaled: method %v takes no parameters, got %d", f.method, len(p))
	}
	var scratch []float32
	if f.method == ScalePercentile {
		scratch = make([]float32, n)
	}
	nonzero := false
	for off := 0; off < len(x); off += n {
		row, out := x[off:off+n], y[off:off+n]
		cl := f.clipOf(row, scratch)
		if !(cl > 0) || math.IsInf(float64(cl), 0) {
			if cl != 0 {
				return fmt.Errorf("%w: scaled: clip value %g", ErrParam, cl)
			}
			clear(out)
			continue
		}
		nonzero = true
		s := cl / f.qp
		for i, v := range row {
			out[i] = round(clip(v/s, -f.qn, f.qp)) * s
		}
	}
	if f.weights && !nonzero {
		return fmt.Errorf("%w: scaled: all weights are zero", ErrParam)
	}
	return nil
}

func (f *scaledFunc) Grad(wrt int, dst, g, x, _ []float32, p [][]float32, c Ctx) error {
	n, err := groupLen("scaled", len(x), f.perRow, c)
	if err != nil {
		return err
	}
	if f.method == ScaleLearned {
		return f.learnedGrad(wrt, dst, g, x, p, n)
	}
	if wrt != 0 {
		return errWRT("scaled", wrt)
	}
	if err := checkGradLen("scaled", dst, g, x); err != nil {
		return err
	}
	var scratch []float32
	if f.method == ScalePercentile {
		scratch = make([]float32, n)
	}
	for off := 0; off < len(x); off += n {
		row := x[off : off+n]
		hi := f.clipOf(row, scratch)
		lo := -f.qn * (hi / f.qp)
		for i, v := range row {
			if v >= lo && v <= hi {
				dst[off+i] = g[off+i]
			} else {
				dst[off+i] = 0
			}
		}
	}
	return nil
}

// learnedGrad is LSQ's gradient, per group of n elements sharing a step.
func (f *scaledFunc) learnedGrad(wrt int, dst, g, x []float32, p [][]float32, n int) error {
	st, err := f.steps(x, p, n)
	if err != nil {
		return err
	}
	switch wrt {
	case 0:
		if err := checkGradLen("scaled", dst, g, x); err != nil {
			return err
		}
		for r, s := range st {
			for i := r * n; i < (r+1)*n; i++ {
				u := x[i] / s
				if u > -f.qn && u < f.qp {
					dst[i] = g[i]
				} else {
					dst[i] = 0
				}
			}
		}
	case 1:
		if len(dst) != len(st) || len(g) != len(x) {
			return fmt.Errorf("ste: scaled: gradient lengths dst %d (want %d), upstream %d, input %d", len(dst), len(st), len(g), len(x))
		}
		for r, s := range st {
			var ds float64
			for i := r * n; i < (r+1)*n; i++ {
				u := x[i] / s
				var d float32
				switch {
				case u <= -f.qn:
					d = -f.qn
				case u >= f.qp:
					d = f.qp
				default:
					d = round(u) - u
				}
				ds += float64(g[i] * d)
			}
			dst[r] = float32(ds) * f.gscale
		}
	default:
		return errWRT("scaled", wrt)
	}
	return nil
}

func init() {
	Register(Scaled{}, "uniform k-bit round(clip(x/s,−Q_N,Q_P))·s with s from a method (max|meanabs|mse|percentile|learned)")
}

// Clip returns the clip value c (so s = c/Q_P) that the data-derived method picks for
// the whole of x as one group, for a tensor of the given role (weights are signed): the
// same choice Forward makes, exposed for post-training calibration. ScaleLearned has no
// data-derived clip and is an error.
func (s Scaled) Clip(x []float32, role Role) (float32, error) {
	if s.Method == ScaleLearned {
		return 0, fmt.Errorf("%w: scaled: method learned has no data-derived clip", ErrParam)
	}
	if len(x) == 0 {
		return 0, fmt.Errorf("%w: scaled: clip of an empty tensor", ErrParam)
	}
	q := s
	q.PerChannel = false
	f, err := q.Build(Target{Shape: []int{1, len(x)}, Role: role})
	if err != nil {
		return 0, err
	}
	sf := f.(*scaledFunc)
	var scratch []float32
	if sf.method == ScalePercentile {
		scratch = make([]float32, len(x))
	}
	return sf.clipOf(x, scratch), nil
}
