package ste

import "fmt"

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
	K     int     // bit width; 0 means 4
	Alpha float32 // initial α; 0 means 10
	Decay float32 // L2 coefficient on α; 0 means 1e-4, negative means none
}

func (PACT) Name() string { return "pact" }
func (p PACT) String() string {
	return fmt.Sprintf("pact(bits=%d,alpha=%g,decay=%g)", p.bits(), p.alpha(), p.decay())
}
func (p PACT) Bits() int { return p.bits() }

func (p PACT) bits() int {
	if p.K == 0 {
		return 4
	}
	return p.K
}

func (p PACT) alpha() float32 {
	if p.Alpha == 0 {
		return 10
	}
	return p.Alpha
}

func (p PACT) decay() float32 {
	switch {
	case p.Decay == 0:
		return 1e-4
	case p.Decay < 0:
		return 0
	}
	return p.Decay
}

func (p PACT) Build(t Target) (Func, error) {
	if err := checkBits("pact", p.bits(), 1, 16); err != nil {
		return nil, err
	}
	if err := positive("pact", "alpha", p.alpha()); err != nil {
		return nil, err
	}
	if len(t.Shape) == 0 || t.Shape[0] <= 0 {
		return nil, fmt.Errorf("%w: pact: empty shape", ErrParam)
	}
	return &pactFunc{levels: levelsOf(p.bits()), alpha: p.alpha(), decay: p.decay()}, nil
}

type pactFunc struct {
	levels float32 // 2^k − 1
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

func (f *pactFunc) Forward(y, x []float32, p [][]float32, _ Ctx) error {
	if err := checkLenOf("pact", y, x); err != nil {
		return err
	}
	a, err := f.a(p)
	if err != nil {
		return err
	}
	scale, step := f.levels/a, a/f.levels
	for i, v := range x {
		y[i] = round(clip(v, 0, a)*scale) * step
	}
	return nil
}

func (f *pactFunc) Grad(wrt int, dst, g, x, _ []float32, p [][]float32, _ Ctx) error {
	a, err := f.a(p)
	if err != nil {
		return err
	}
	switch wrt {
	case 0:
		if err := checkGradLen("pact", dst, g, x); err != nil {
			return err
		}
		for i, v := range x {
			if v >= 0 && v < a {
				dst[i] = g[i]
			} else {
				dst[i] = 0
			}
		}
	case 1:
		if len(dst) != 1 || len(g) != len(x) {
			return fmt.Errorf("ste: pact: gradient lengths dst %d (want 1), upstream %d, input %d", len(dst), len(g), len(x))
		}
		var s float64
		for i, v := range x {
			if v >= a {
				s += float64(g[i])
			}
		}
		dst[0] = float32(s)
	default:
		return errWRT("pact", wrt)
	}
	return nil
}

func init() {
	Register("pact", "round(clip(x,0,α)·(2^k−1)/α)·α/(2^k−1) with learnable α (PACT); params: bits, alpha (initial), decay", func(a Args) (Quantizer, error) {
		b, err := a.Int("bits", 4)
		if err != nil {
			return nil, err
		}
		if err := checkBits("pact", b, 1, 16); err != nil {
			return nil, err
		}
		al, err := a.Float("alpha", 10)
		if err != nil {
			return nil, err
		}
		if err := positive("pact", "alpha", float32(al)); err != nil {
			return nil, err
		}
		d, err := a.Float("decay", 1e-4)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("%w: pact: decay=%g, want ≥ 0", ErrParam, d)
		}
		if d == 0 {
			d = -1 // PACT.Decay < 0 means none
		}
		return PACT{K: b, Alpha: float32(al), Decay: float32(d)}, nil
	})
}
