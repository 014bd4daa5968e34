package optim

import (
	"fmt"
	"math"
	"testing"
)

// refAdam is torch.optim.Adam / AdamW's single-tensor update in float64:
//
//	p = p*(1 - lr*wd)                (AdamW)
//	g = g + wd*p                     (Adam)
//	m = b1*m + (1-b1)*g
//	v = b2*v + (1-b2)*g*g
//	p = p - lr/(1-b1^t) * m/(sqrt(v)/sqrt(1-b2^t) + eps)
type refAdam struct {
	b1, b2, eps, wd float64
	decoupled       bool
	m, v            []float64
	t               int
}

func (r *refAdam) step(p, g []float64, lr float64) {
	if r.m == nil {
		r.m, r.v = make([]float64, len(p)), make([]float64, len(p))
	}
	r.t++
	bc1 := 1 - math.Pow(r.b1, float64(r.t))
	bc2 := 1 - math.Pow(r.b2, float64(r.t))
	for i := range p {
		gi := g[i]
		if r.decoupled {
			p[i] *= 1 - lr*r.wd
		} else {
			gi += r.wd * p[i]
		}
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*gi
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*gi*gi
		p[i] -= lr / bc1 * r.m[i] / (math.Sqrt(r.v[i])/math.Sqrt(bc2) + r.eps)
	}
}

var adamGrads = [][]float32{
	{0.1, -0.2, 0.3, 1},
	{-0.05, 0.4, 0.3, 1e-3},
	{0.2, 0.2, -0.7, -2},
}

func TestAdamAgainstReference(t *testing.T) {
	tests := []struct {
		name string
		opt  *Adam
	}{
		{"adam", NewAdam()},
		{"adam+l2", &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}},
		{"adamw", NewAdamW(0.1)},
		{"dorefa eps", &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-5}},
		{"beta1=0", &Adam{Beta1: 0, Beta2: 0.99, Eps: 1e-8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{0.5, -1, 2, 0.25}}
			rp := []float64{0.5, -1, 2, 0.25}
			o := tc.opt
			ref := &refAdam{b1: float64(o.Beta1), b2: float64(o.Beta2), eps: float64(o.Eps),
				wd: float64(o.WeightDecay), decoupled: o.Decoupled}
			lr := float32(1e-2)
			for k, g := range adamGrads {
				p.Grad = clone32(g)
				rg := make([]float64, len(g))
				for i := range g {
					rg[i] = float64(g[i])
				}
				if err := o.Step([]*Param{p}, lr); err != nil {
					t.Fatal(err)
				}
				ref.step(rp, rg, float64(lr))
				checkClose(t, fmt.Sprintf("step %d", k+1), p.Data, rp, 1e-6)
			}
		})
	}
}

func TestAdamFirstStep(t *testing.T) {
	// At t=1 the bias corrections cancel: m̂ = g, v̂ = g², so
	// p ← p − lr·g/(|g| + ε) ≈ p − lr·sign(g) whatever |g| is.
	tests := []struct {
		g, want float64
	}{
		{0.5, 1 - 0.01*0.5/(0.5+1e-8)},
		{-3, 1 + 0.01*3/(3+1e-8)},
		{1e-4, 1 - 0.01*1e-4/(1e-4+1e-8)},
		{0, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.g), func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{float32(tc.g)}}
			if err := NewAdam().Step([]*Param{p}, 0.01); err != nil {
				t.Fatal(err)
			}
			if !close32(p.Data[0], tc.want, 1e-6) {
				t.Errorf("p = %.9g, want %.9g", p.Data[0], tc.want)
			}
		})
	}
}

func TestAdamWDiffersFromAdamL2(t *testing.T) {
	run := func(o *Adam) []float32 {
		p := &Param{Name: "w", Data: []float32{0.5, -1, 2, 0.25}}
		for _, g := range adamGrads {
			p.Grad = clone32(g)
			if err := o.Step([]*Param{p}, 1e-2); err != nil {
				t.Fatal(err)
			}
		}
		return p.Data
	}
	l2 := run(&Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
	w := run(NewAdamW(0.1))
	none := run(NewAdam())
	for i := range l2 {
		// L2 decay passes through the adaptive denominator and mostly
		// cancels; decoupled decay shrinks p by lr·wd·p each step.
		if math.Abs(float64(l2[i]-w[i])) < 1e-6 {
			t.Errorf("[%d]: adam+l2 %v == adamw %v", i, l2[i], w[i])
		}
		if w[i] == none[i] {
			t.Errorf("[%d]: adamw did not decay", i)
		}
	}
}
