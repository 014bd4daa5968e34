package ste

import (
	"fmt"
	"math"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/vec"
)

// LSQ is Learned Step Size Quantization (Esser et al. 2020, https://arxiv.org/abs/1902.08153)
// with a learnable step s:
//
//	v̄ = round(clip(v/s, −Q_N, Q_P)),  q(v) = v̄·s
//	∂q/∂v = 1{−Q_N < v/s < Q_P}
//	∂q/∂s = round(v/s) − v/s inside, −Q_N below, Q_P above; scaled by g = 1/√(N·Q_P)
//
// Signed b-bit: Q_N = 2^(b−1), Q_P = 2^(b−1)−1 (always on weights). Unsigned: Q_N = 0,
// Q_P = 2^b−1 (inputs unless Signed). N is the number of weights, or of features per
// sample for inputs. s starts at 2·mean|v|/√Q_P: from the initial weights, or from the
// first batch that passes through (inputs).
type LSQ struct {
	K      int  // bit width; 0 means 4
	Signed bool // signed inputs (weights are always signed)
}

func (LSQ) Name() string { return "lsq" }
func (l LSQ) String() string {
	s := "lsq(bits=" + itoa(l.bits())
	if l.Signed {
		s += ",signed"
	}
	return s + ")"
}
func (l LSQ) Bits() int { return l.bits() }
func (l LSQ) bits() int {
	if l.K == 0 {
		return 4
	}
	return l.K
}

func (l LSQ) Build(t Target) (Func, error) {
	b := l.bits()
	signed := l.Signed || t.Role == Weights
	lo := 1
	if signed {
		lo = 2
	}
	if err := checkBits("lsq", b, lo, 16); err != nil {
		return nil, err
	}
	if len(t.Shape) == 0 || t.Shape[0] <= 0 {
		return nil, fmt.Errorf("%w: lsq: empty shape", ErrParam)
	}
	f := &lsqFunc{}
	if signed {
		f.qn, f.qp = float32(int(1)<<(b-1)), float32(int(1)<<(b-1)-1)
	} else {
		f.qn, f.qp = 0, float32(int(1)<<b-1)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	if t.Role == Inputs {
		n /= t.Shape[0]
	}
	f.gscale = float32(1 / math.Sqrt(float64(n)*float64(f.qp)))
	f.step = 0 // inputs: set from the first batch
	if t.Init != nil {
		f.step = f.initStep(t.Init)
	}
	return f, nil
}

type lsqFunc struct {
	qn, qp float32 // clip range is [−qn, qp]
	gscale float32
	step   float32
	// floor is the smallest step kept (1e-3 of the first positive step seen): an
	// optimizer whose update does not scale with s (Adam) can push a small step
	// (8-bit weights: s ≈ 0.003) below zero; the step is then clamped to floor.
	floor float32

	// The fused backward pass computes ∂x and ∂s together; the ∂s of the
	// last forward pass is kept for the graph's separate ∂s node.
	gen    uint64 // forward passes so far
	dsGen  uint64 // gen when ds was computed (dsKey is nil before the first)
	dsKey  [2]*float32
	dsStep float32
	ds     float32
}

func (f *lsqFunc) initStep(v []float32) float32 {
	return 2 * meanAbs(v) / float32(math.Sqrt(float64(f.qp)))
}

func (f *lsqFunc) Params() []Param {
	return []Param{{Name: "step", Data: []float32{f.step}}}
}

// s returns the step, initialising it from x when it is still zero.
func (f *lsqFunc) s(x []float32, p [][]float32) (float32, error) {
	if len(p) != 1 || len(p[0]) != 1 {
		return 0, fmt.Errorf("ste: lsq: want one step parameter")
	}
	if p[0][0] == 0 {
		p[0][0] = f.initStep(x)
	}
	s := p[0][0]
	if s == 0 {
		// An all-zero first batch: any step maps it to zero. Use 1 for this call and
		// initialise from the next batch (the stored step stays 0).
		s = 1
	}
	if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
		return 0, fmt.Errorf("ste: lsq: step size is %g, want a positive finite number", s)
	}
	if f.floor == 0 && s > 0 {
		f.floor = s * 1e-3
	}
	if f.floor > 0 && s < f.floor {
		s = f.floor
		p[0][0] = s
	}
	if !(s > 0) {
		return 0, fmt.Errorf("ste: lsq: step size is %g, want a positive finite number", s)
	}
	return s, nil
}

func (f *lsqFunc) Forward(y, x []float32, p [][]float32, _ Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	s, err := f.s(x, p)
	if err != nil {
		return err
	}
	f.gen++
	inv := 1 / s
	parallel.Rows(len(x), 1, func(_, lo, hi int) {
		vec.QuantClip(y[lo:hi], x[lo:hi], inv, s, -f.qn, f.qp)
	})
	return nil
}

// Grad: ∂x = g·1{−Q_N < v/s < Q_P}; ∂s = g_s·Σ g·(round(clip(u)) − u·1{inside}),
// the branch-free form of round(u)−u inside, −Q_N below, Q_P above. Asking for
// ∂x computes both in one pass; ∂s is then served from it.
func (f *lsqFunc) Grad(wrt int, dst, g, x, _ []float32, p [][]float32, _ Ctx) error {
	s, err := f.s(x, p)
	if err != nil {
		return err
	}
	if len(g) != len(x) || len(x) == 0 {
		return fmt.Errorf("ste: lsq: gradient has %d values for %d inputs", len(g), len(x))
	}
	key := [2]*float32{&g[0], &x[0]}
	switch wrt {
	case 0:
		if err := checkLen(dst, x); err != nil {
			return err
		}
		f.ds = f.stepGrad(dst, g, x, s)
	case 1:
		if f.dsGen != f.gen || f.dsKey != key || f.dsStep != s {
			f.ds = f.stepGrad(nil, g, x, s)
		}
		dst[0] = f.ds
	default:
		return errWRT("lsq", wrt)
	}
	f.dsGen, f.dsKey, f.dsStep = f.gen, key, s
	return nil
}

// stepGrad writes ∂x into dx (unless nil) and returns ∂s. Partial sums per
// chunk are added in chunk order, and the chunks do not depend on GOMAXPROCS: deterministic.
func (f *lsqFunc) stepGrad(dx, g, x []float32, s float32) float32 {
	inv := 1 / s
	var parts [parallel.MaxParts]float64
	n := parallel.Rows(len(x), 1, func(part, lo, hi int) {
		var d []float32
		if dx != nil {
			d = dx[lo:hi]
		}
		parts[part] = vec.LSQGrad(d, g[lo:hi], x[lo:hi], inv, -f.qn, f.qp)
	})
	var ds float64
	for _, v := range parts[:n] {
		ds += v
	}
	return float32(ds) * f.gscale
}

func init() {
	Register("lsq", "learned step size: round(clip(v/s,−Q_N,Q_P))·s with learnable s (LSQ); params: bits, signed", func(a Args) (Quantizer, error) {
		b, err := a.Int("bits", 4)
		if err != nil {
			return nil, err
		}
		s, err := a.Bool("signed", false)
		if err != nil {
			return nil, err
		}
		if err := checkBits("lsq", b, 1, 16); err != nil {
			return nil, err
		}
		return LSQ{K: b, Signed: s}, nil
	})
}
