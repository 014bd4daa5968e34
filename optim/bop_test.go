package optim

import (
	"errors"
	"testing"
)

func TestBopFlips(t *testing.T) {
	// γ = 0.5, τ = 0.1. m ← 0.5·m + 0.5·g; flip where |m| > τ and
	// sign(m) = sign(w).
	w0 := []float32{1, 1, -1, -1, 1, -1, 0}
	tests := []struct {
		name string
		g    []float32
		m    []float32 // m after the step
		want []float32 // w after the step
	}{
		{
			// m = [.2 −.2 .2 −.2 .05 −.05 .2]: flip 0 (+,+), 3 (−,−) and
			// 6 (sign(0) = +1); 1 and 2 disagree in sign; 4 and 5 are
			// under τ.
			"step 1",
			[]float32{0.4, -0.4, 0.4, -0.4, 0.1, -0.1, 0.4},
			[]float32{0.2, -0.2, 0.2, -0.2, 0.05, -0.05, 0.2},
			[]float32{-1, 1, -1, 1, 1, -1, -1},
		},
		{
			// m = [.1 −.1 .1 −.1 .125 −.125 .1]: |m| = τ does not flip;
			// 4 and 5 now exceed τ and agree with w.
			"step 2",
			[]float32{0, 0, 0, 0, 0.2, -0.2, 0},
			[]float32{0.1, -0.1, 0.1, -0.1, 0.125, -0.125, 0.1},
			[]float32{-1, 1, -1, 1, -1, 1, -1},
		},
	}
	p := &Param{Name: "bin", Data: clone32(w0), Binary: true}
	o := &Bop{Gamma: 0.5, Threshold: 0.1}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.Grad = clone32(tc.g)
			if err := o.Step([]*Param{p}, 123); err != nil { // lr is unused for binary weights
				t.Fatal(err)
			}
			m := o.st["bin"].slots[0]
			for i := range tc.want {
				if p.Data[i] != tc.want[i] {
					t.Errorf("w[%d] = %v, want %v", i, p.Data[i], tc.want[i])
				}
				if !close32(m[i], float64(tc.m[i]), 1e-6) {
					t.Errorf("m[%d] = %v, want %v", i, m[i], tc.m[i])
				}
			}
		})
	}
}

func TestBopDelegates(t *testing.T) {
	bin := &Param{Name: "bin", Data: []float32{1, -1}, Grad: []float32{1, 1}, Binary: true}
	fp := &Param{Name: "bias", Data: []float32{1, -1}, Grad: []float32{1, 1}, Kind: Bias}
	o := &Bop{Gamma: 1, Threshold: 0, Inner: &SGD{}}
	if err := o.Step([]*Param{bin, fp}, 0.5); err != nil {
		t.Fatal(err)
	}
	// γ = 1: m = g = 1 flips the +1 weight only.
	if bin.Data[0] != -1 || bin.Data[1] != -1 {
		t.Errorf("binary = %v, want [-1 -1]", bin.Data)
	}
	// Inner SGD: p − 0.5·1.
	if fp.Data[0] != 0.5 || fp.Data[1] != -1.5 {
		t.Errorf("non-binary = %v, want [0.5 -1.5]", fp.Data)
	}
	if _, ok := o.Inner.(*SGD).st["bin"]; ok {
		t.Error("inner optimizer saw the binary param")
	}
}

func TestBopNoInner(t *testing.T) {
	fp := &Param{Name: "bias", Data: []float32{1}, Grad: []float32{1}}
	err := (&Bop{Gamma: DefaultGamma, Threshold: DefaultThreshold}).Step([]*Param{fp}, 0.1)
	if !errors.Is(err, ErrConfig) {
		t.Errorf("err = %v, want ErrConfig", err)
	}
	if fp.Data[0] != 1 {
		t.Errorf("param changed on error: %v", fp.Data)
	}
}

func TestBopInnerErrorFlipsNothing(t *testing.T) {
	bin := &Param{Name: "bin", Data: []float32{1}, Grad: []float32{1}, Binary: true}
	fp := &Param{Name: "w", Data: []float32{1}, Grad: []float32{1}}
	inner := &SGD{Momentum: 0.9}
	// Give the inner optimizer a state of the wrong shape for "w".
	if err := inner.Step([]*Param{{Name: "w", Data: []float32{1, 2}, Grad: []float32{0, 0}}}, 0.1); err != nil {
		t.Fatal(err)
	}
	o := &Bop{Gamma: 1, Threshold: 0, Inner: inner}
	if err := o.Step([]*Param{bin, fp}, 0.1); !errors.Is(err, ErrShape) {
		t.Fatalf("err = %v, want ErrShape", err)
	}
	if bin.Data[0] != 1 {
		t.Error("binary weight flipped although the step failed")
	}
}
