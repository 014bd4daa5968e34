package ste

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
	"github.com/lowbit/lowbit/internal/vec"
)

// PACT is Parameterized Clipping Activation (Choi et al. 2018, https://arxiv.org/abs/1805.06085)
// for inputs (activations), with a learnable clipping level α per layer:
//
//	y = clip(x, 0, α),  q(x) = round(y·(2^k−1)/α)·α/(2^k−1)
//	∂q/∂x = 1{0 ≤ x < α}
//	∂q/∂α = 1{x ≥ α}
//
// The gradients are the paper's STE (its eq. 3): round is treated as the identity, so
// q ≈ y and ∂y/∂α is 1 where x is clipped at α and 0 below it. (LSQ-style estimators keep
// the extra (q−y)/α term inside the range; PACT does not.) The paper regularises α with L2,
// reported through Param.Decay. α must stay positive.
type PACT struct {
	Bits  int     `q:"bits,default=4,min=1,max=16,show"`
	Alpha float32 `q:"alpha,default=10,gt=0,show"`         // initial α
	Decay float32 `q:"decay,default=1e-4,zero,min=0,show"` // L2 coefficient on α; 0: none (a spec without decay= gets 1e-4)
}

func (PACT) Name() string       { return "pact" }
func (p PACT) String() string   { return Format(p) }
func (p PACT) BitsFor(Role) int { r, _ := Resolve(p); return r.Bits }
func (PACT) Symmetric() bool    { return false }
func (PACT) DataInit() bool     { return false }

func (p PACT) Build(t Target) (Func, error) {
	p, err := Resolve(p)
	if err != nil {
		return nil, err
	}
	if err := checkShape("pact", t); err != nil {
		return nil, err
	}
	return &pactFunc{levels: levelsOf(p.Bits), alpha: p.Alpha, decay: p.Decay}, nil
}

type pactFunc struct {
	levels int     // 2^k − 1
	alpha  float32 // initial α
	decay  float32
}

func (f *pactFunc) Params() []Param {
	return []Param{{Name: "alpha", Data: []float32{f.alpha}, Decay: f.decay}}
}

func (f *pactFunc) a(p [][]float32) (float32, error) {
	if err := scalarParams("pact", p, 1); err != nil {
		return 0, err
	}
	a := p[0][0]
	return a, positive("pact", "alpha", a)
}

// pactState is the memory of one PACT graph node (Ctx.State): the fused
// backward pass computes ∂x and ∂α together; da is the ∂α of forward pass
// number pass (ok: it was computed) at clip level a, which the separate ∂α
// gradient then returns instead of a second pass over the activations.
type pactState struct {
	forward uint64 // forward passes so far
	pass    uint64
	ok      bool
	a, da   float32
}

// NewState returns the memory of one graph node.
func (f *pactFunc) NewState() any { return &pactState{} }

func (f *pactFunc) Forward(y, x []float32, p [][]float32, c Ctx) error {
	if err := checkLenOf("pact", y, x); err != nil {
		return err
	}
	a, err := f.a(p)
	if err != nil {
		return err
	}
	if st, _ := c.State.(*pactState); st != nil {
		st.forward++
	}
	d := qfunc.Clipped(a, f.levels) // vec.QuantLinear is Desc.Apply's arithmetic
	parallel.Rows(len(x), 1, func(_, lo, hi int) {
		vec.QuantLinear(y[lo:hi], x[lo:hi], d.Mul, d.Lo, d.Hi, d.Num, d.Den)
	})
	return nil
}

// Infer is round(clip(x·L/α, 0, L))·α/L with the learned α.
func (f *pactFunc) Infer(p [][]float32) (qfunc.Desc, error) {
	a, err := f.a(p)
	return qfunc.Clipped(a, f.levels), err
}

// Grad: ∂x = g·1{0 ≤ x < α}, ∂α = Σ g·1{x ≥ α} (float64 partial sums per
// parallel chunk and vector lane, added in a fixed order: deterministic and
// independent of GOMAXPROCS). Asking for ∂x computes both in one pass; with a
// node state, ∂α of the same forward pass is then served from it.
func (f *pactFunc) Grad(wrt int, dst, g, x, _ []float32, p [][]float32, c Ctx) error {
	a, err := f.a(p)
	if err != nil {
		return err
	}
	st, _ := c.State.(*pactState)
	var da float32
	switch wrt {
	case 0:
		if err := checkGradLen("pact", dst, g, x); err != nil {
			return err
		}
		da = pactGrad(dst, g, x, a)
	case 1:
		if len(dst) != 1 || len(g) != len(x) {
			return fmt.Errorf("ste: pact: gradient lengths dst %d (want 1), upstream %d, input %d", len(dst), len(g), len(x))
		}
		if st != nil && st.ok && st.pass == st.forward && st.a == a {
			da = st.da
		} else {
			da = pactGrad(nil, g, x, a)
		}
		dst[0] = da
	default:
		return errWRT("pact", wrt)
	}
	if st != nil {
		st.ok, st.pass, st.a, st.da = true, st.forward, a, da
	}
	return nil
}

// pactGrad writes ∂x into dx (unless nil) and returns ∂α.
func pactGrad(dx, g, x []float32, a float32) float32 {
	var parts [parallel.MaxParts]float64
	n := parallel.Rows(len(x), 1, func(part, lo, hi int) {
		var d []float32
		if dx != nil {
			d = dx[lo:hi]
		}
		parts[part] = vec.PACTGrad(d, g[lo:hi], x[lo:hi], a)
	})
	var s float64
	for _, v := range parts[:n] {
		s += v
	}
	return float32(s)
}

func init() {
	Register(PACT{}, "round(clip(x,0,α)·(2^k−1)/α)·α/(2^k−1) with learnable α (PACT); alpha is α's initial value")
}
