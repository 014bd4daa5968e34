package optim

import (
	"fmt"
	"testing"
)

func TestWeightDecayByKind(t *testing.T) {
	// With a zero gradient a parameter moves only if it is decayed.
	opts := map[string]func(all bool) Optimizer{
		"sgd":   func(all bool) Optimizer { return &SGD{Momentum: 0.9, WeightDecay: 0.1, DecayAll: all} },
		"adam":  func(all bool) Optimizer { a := NewAdam(); a.WeightDecay, a.DecayAll = 0.1, all; return a },
		"adamw": func(all bool) Optimizer { a := NewAdamW(0.1); a.DecayAll = all; return a },
	}
	tests := []struct {
		kind     Kind
		all      bool
		override *float32
		decayed  bool
	}{
		{Weight, false, nil, true},
		{Bias, false, nil, false},
		{BNScale, false, nil, false},
		{BNShift, false, nil, false},
		{QuantParam, false, nil, false},
		{Other, false, nil, false},
		{Bias, true, nil, true},
		{QuantParam, true, nil, true},
		{Weight, false, f32p(0), false},
		{Weight, true, f32p(0), false},
		{QuantParam, false, f32p(0.5), true}, // PACT's L2 on α
	}
	for name, mk := range opts {
		for _, tc := range tests {
			ov := "nil"
			if tc.override != nil {
				ov = fmt.Sprint(*tc.override)
			}
			t.Run(fmt.Sprintf("%s/%v/all=%v/override=%s", name, tc.kind, tc.all, ov), func(t *testing.T) {
				p := &Param{Name: "p", Data: []float32{1, -2}, Grad: []float32{0, 0}, Kind: tc.kind, Decay: tc.override}
				if err := mk(tc.all).Step([]*Param{p}, 0.1); err != nil {
					t.Fatal(err)
				}
				moved := p.Data[0] != 1 || p.Data[1] != -2
				if moved != tc.decayed {
					t.Errorf("moved = %v (p = %v), want decayed = %v", moved, p.Data, tc.decayed)
				}
			})
		}
	}
}

func TestDecayAmount(t *testing.T) {
	// SGD: p ← p − lr·λ·p; AdamW with g = 0: p ← p·(1 − lr·λ).
	tests := []struct {
		name string
		opt  Optimizer
		want float64
	}{
		{"sgd", &SGD{WeightDecay: 0.5}, 1 - 0.25*0.5},
		{"adamw", NewAdamW(0.5), 1 - 0.25*0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{0}}
			if err := tc.opt.Step([]*Param{p}, 0.25); err != nil {
				t.Fatal(err)
			}
			if float64(p.Data[0]) != tc.want {
				t.Errorf("p = %v, want %v", p.Data[0], tc.want)
			}
		})
	}
}
