package ste

import (
	"fmt"
	"math"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
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
//
// Forward writes the step parameter in two documented cases: a step still at 0
// is set from x (DataInit), and a step below the floor of its node's state is
// raised to it (see lsqState).
type LSQ struct {
	Bits   int  `q:"bits,default=4,min=1,max=16,show"` // bit width
	Signed bool `q:"signed"`                           // signed inputs (weights are always signed)
}

func (LSQ) Name() string       { return "lsq" }
func (l LSQ) String() string   { return Format(l) }
func (l LSQ) BitsFor(Role) int { r, _ := Resolve(l); return r.Bits }
func (l LSQ) Symmetric() bool  { return l.Signed }
func (LSQ) DataInit() bool     { return true }

// Check: signed values need 2 bits.
func (l LSQ) Check() error { return checkSignedBits("lsq", l.Bits, l.Signed) }

func (l LSQ) Build(t Target) (Func, error) {
	l, err := Resolve(l)
	if err != nil {
		return nil, err
	}
	signed := l.Signed || t.Role == Weights
	if err := checkSignedBits("lsq", l.Bits, signed); err != nil {
		return nil, err
	}
	if err := checkShape("lsq", t); err != nil {
		return nil, err
	}
	qn, qp := signedRange(l.Bits, signed)
	f := &lsqFunc{qn: qn, qp: qp}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	if t.Role == Inputs {
		n /= t.Shape[0]
	}
	f.gscale = float32(1 / math.Sqrt(float64(n)*float64(qp)))
	if t.Init != nil { // inputs: set from the first batch
		f.step = f.initStep(t.Init)
	}
	return f, nil
}

type lsqFunc struct {
	qn, qp int // clip range is [−qn, qp]
	gscale float32
	step   float32 // initial step; 0 for inputs
}

// lsqState is the memory of one LSQ graph node (Ctx.State), kept between calls:
//
//   - floor is the smallest step kept, 1e-3 of the first positive step the node
//     saw: an optimizer whose update does not scale with s (Adam) can push a
//     small step (8-bit weights: s ≈ 0.003) below zero; Forward then raises
//     the step parameter to floor.
//   - The fused backward computes ∂x and ∂s in one pass; ds is the ∂s of the
//     forward pass numbered pass (ok: it was computed), for step value step,
//     which the separate ∂s gradient then returns instead of a second pass.
//
// The parallel partial sums of ∂s need one slot per chunk of parallel.Rows.
type lsqState struct {
	floor   float32
	forward uint64 // forward passes so far
	pass    uint64 // the forward pass ds belongs to
	ok      bool
	step    float32
	ds      float32
}

// NewState returns the memory of one graph node.
func (f *lsqFunc) NewState() any { return &lsqState{} }

func (f *lsqFunc) initStep(v []float32) float32 {
	return 2 * meanAbs(v) / float32(math.Sqrt(float64(f.qp)))
}

func (f *lsqFunc) Params() []Param {
	return []Param{{Name: "step", Data: []float32{f.step}}}
}

// Infer is round(clip(x/s, −Q_N, Q_P))·s with the learned step.
func (f *lsqFunc) Infer(p [][]float32) (qfunc.Desc, error) {
	if err := scalarParams("lsq", p, 1); err != nil {
		return qfunc.Desc{}, err
	}
	if err := positive("lsq", "step", p[0][0]); err != nil {
		return qfunc.Desc{}, err
	}
	return qfunc.Step(p[0][0], -f.qn, f.qp), nil
}

// s returns the step, initialising it from x when it is still zero and
// raising it to the node's floor (st may be nil: no floor).
func (f *lsqFunc) s(x []float32, p [][]float32, st *lsqState) (float32, error) {
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
	if st != nil {
		if st.floor == 0 && s > 0 {
			st.floor = s * 1e-3
		}
		if st.floor > 0 && s < st.floor {
			s = st.floor
			p[0][0] = s
		}
	}
	if !(s > 0) {
		return 0, fmt.Errorf("ste: lsq: step size is %g, want a positive finite number", s)
	}
	return s, nil
}

func state(c Ctx) *lsqState {
	st, _ := c.State.(*lsqState)
	return st
}

func (f *lsqFunc) Forward(y, x []float32, p [][]float32, c Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	st := state(c)
	s, err := f.s(x, p, st)
	if err != nil {
		return err
	}
	if st != nil {
		st.forward++
	}
	d := qfunc.Step(s, -f.qn, f.qp) // Den is 1: vec.QuantClip computes Round(Clip(x·Mul))·Num
	parallel.Rows(len(x), 1, func(_, lo, hi int) {
		vec.QuantClip(y[lo:hi], x[lo:hi], d.Mul, d.Num, d.Lo, d.Hi)
	})
	return nil
}

// Grad: ∂x = g·1{−Q_N < v/s < Q_P}; ∂s = g_s·Σ g·(round(clip(u)) − u·1{inside}),
// the branch-free form of round(u)−u inside, −Q_N below, Q_P above. Asking for
// ∂x computes both in one pass; with a node state, ∂s of the same forward pass
// is then served from it.
func (f *lsqFunc) Grad(wrt int, dst, g, x, _ []float32, p [][]float32, c Ctx) error {
	st := state(c)
	s, err := f.s(x, p, st)
	if err != nil {
		return err
	}
	if len(g) != len(x) || len(x) == 0 {
		return fmt.Errorf("ste: lsq: gradient has %d values for %d inputs", len(g), len(x))
	}
	var ds float32
	switch wrt {
	case 0:
		if err := checkLen(dst, x); err != nil {
			return err
		}
		ds = f.stepGrad(dst, g, x, s)
	case 1:
		if st != nil && st.ok && st.pass == st.forward && st.step == s {
			ds = st.ds
		} else {
			ds = f.stepGrad(nil, g, x, s)
		}
		dst[0] = ds
	default:
		return errWRT("lsq", wrt)
	}
	if st != nil {
		st.ok, st.pass, st.step, st.ds = true, st.forward, s, ds
	}
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
		parts[part] = vec.LSQGrad(d, g[lo:hi], x[lo:hi], inv, -float32(f.qn), float32(f.qp))
	})
	var ds float64
	for _, v := range parts[:n] {
		ds += v
	}
	return float32(ds) * f.gscale
}

func init() {
	Register(LSQ{}, "learned step size: round(clip(v/s,−Q_N,Q_P))·s with learnable s (LSQ)")
}
