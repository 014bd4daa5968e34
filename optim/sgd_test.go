package optim

import (
	"fmt"
	"testing"
)

// refSGD is torch.optim.SGD's single-tensor update written out in float64:
//
//	g = g + wd*p
//	buf = g (first) | mu*buf + (1-damp)*g
//	g = g + mu*buf (nesterov) | buf
//	p = p - lr*g
type refSGD struct {
	mu, damp, wd float64
	nesterov     bool
	buf          []float64
}

func (r *refSGD) step(p, g []float64, lr float64) {
	first := r.buf == nil
	if first {
		r.buf = make([]float64, len(p))
	}
	for i := range p {
		gi := g[i] + r.wd*p[i]
		if r.mu != 0 {
			if first {
				r.buf[i] = gi
			} else {
				r.buf[i] = r.mu*r.buf[i] + (1-r.damp)*gi
			}
			if r.nesterov {
				gi += r.mu * r.buf[i]
			} else {
				gi = r.buf[i]
			}
		}
		p[i] -= lr * gi
	}
}

func TestSGDExact(t *testing.T) {
	// Dyadic numbers, so float32 results are exact. p=1, g=0.5 every step,
	// lr=0.5, μ=0.5:
	//   plain:    b=0.5, p=0.75;  b=0.25+0.5=0.75, p=0.75−0.375=0.375
	//   nesterov: b=0.5, g'=0.75, p=0.625;  b=0.75, g'=0.875, p=0.1875
	//   no mom.:  p=0.75, 0.5
	//   wd=0.5, no mom.: g'=0.5+0.5=1, p=0.5;  g'=0.5+0.25=0.75, p=0.125
	tests := []struct {
		name string
		opt  SGD
		want []float32 // p after each step
	}{
		{"plain", SGD{}, []float32{0.75, 0.5}},
		{"momentum", SGD{Momentum: 0.5}, []float32{0.75, 0.375}},
		{"nesterov", SGD{Momentum: 0.5, Nesterov: true}, []float32{0.625, 0.1875}},
		{"weight decay", SGD{WeightDecay: 0.5}, []float32{0.5, 0.125}},
		// dampening 0.5: b=0.5 (first step undamped), p=0.75; b=0.25+0.25=0.5, p=0.5
		{"dampening", SGD{Momentum: 0.5, Dampening: 0.5}, []float32{0.75, 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{0.5}}
			opt := tc.opt
			for k, want := range tc.want {
				if err := opt.Step([]*Param{p}, 0.5); err != nil {
					t.Fatal(err)
				}
				if p.Data[0] != want {
					t.Errorf("step %d: p = %v, want %v", k+1, p.Data[0], want)
				}
			}
		})
	}
}

func TestSGDAgainstReference(t *testing.T) {
	grads := [][]float32{
		{0.1, -0.2, 0.3, 0},
		{-0.05, 0.4, 0.3, 1e-3},
		{0.2, 0.2, -0.7, -2},
		{0.3, -0.1, 0.05, 0.5},
	}
	tests := []struct {
		name string
		opt  SGD
	}{
		{"plain", SGD{}},
		{"momentum", SGD{Momentum: 0.9}},
		{"nesterov", SGD{Momentum: 0.9, Nesterov: true}},
		{"nesterov+wd", SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}},
		{"momentum+dampening+wd", SGD{Momentum: 0.8, Dampening: 0.1, WeightDecay: 1e-2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{0.5, -1, 2, 0.25}}
			ref := &refSGD{mu: float64(tc.opt.Momentum), damp: float64(tc.opt.Dampening),
				wd: float64(tc.opt.WeightDecay), nesterov: tc.opt.Nesterov}
			rp := []float64{0.5, -1, 2, 0.25}
			opt := tc.opt
			for k, g := range grads {
				p.Grad = clone32(g)
				rg := make([]float64, len(g))
				for i := range g {
					rg[i] = float64(g[i])
				}
				if err := opt.Step([]*Param{p}, 0.1); err != nil {
					t.Fatal(err)
				}
				ref.step(rp, rg, float64(float32(0.1)))
				checkClose(t, fmt.Sprintf("step %d", k+1), p.Data, rp, 1e-6)
			}
		})
	}
}

func TestNesterovDiffersFromPlain(t *testing.T) {
	run := func(nesterov bool) float32 {
		p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{0.3}}
		o := &SGD{Momentum: 0.9, Nesterov: nesterov}
		for range 3 {
			if err := o.Step([]*Param{p}, 0.1); err != nil {
				t.Fatal(err)
			}
		}
		return p.Data[0]
	}
	// Constant g: plain moves lr·g·(1 + 1.9 + 2.71); Nesterov looks one
	// step ahead: lr·g·(1.9 + 2.71 + 3.439).
	plain, nest := run(false), run(true)
	if !close32(plain, 1-0.03*(1+1.9+2.71), 1e-6) || !close32(nest, 1-0.03*(1.9+2.71+3.439), 1e-6) {
		t.Errorf("plain %v, nesterov %v", plain, nest)
	}
}
