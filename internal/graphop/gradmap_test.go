package graphop_test

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
	"github.com/lowbit/lowbit/internal/graphoptest"
)

// gate is an identity whose gradient passes where its input is positive:
// ∂in = g·1{in > 0}. It counts its backward calls and checks that the
// input it is given is the output (as ApplyGradMap promises).
type gate struct{ calls *int }

func (gate) String() string { return "gate" }
func (gate) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (gate) Forward(graphop.Tensor, []graphop.Tensor) error {
	return fmt.Errorf("gate: forward called")
}
func (gate) DiffWRT(int) bool { return true }
func (k gate) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, out, g graphop.Tensor) error {
	*k.calls++
	if len(in) != 1 || &in[0].Data[0] != &out.Data[0] {
		return fmt.Errorf("gate: input is not the mapped output")
	}
	for i, v := range in[0].Data {
		d.Data[i] = 0
		if v > 0 {
			d.Data[i] = g.Data[i]
		}
	}
	return nil
}

// TestApplyGradMap: the map leaves the forward value alone, runs once per
// backward pass however many inputs the op has, and every input's gradient
// sees the mapped upstream gradient.
func TestApplyGradMap(t *testing.T) {
	x0s, x1s := []float32{1, -2, 0.5, 3}, []float32{2, 1, -4, 0.25}
	c := []float32{1, 2, -3, 0.5}
	g := gorgonia.NewGraph()
	x0, x1 := input(g, "x0", x0s), input(g, "x1", x1s)
	var calls int
	y, err := graphop.ApplyGradMap(mul{}, gate{&calls}, x0, x1)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := graphoptest.Dot(y, c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := graphoptest.NewRunner(g, loss, x0, x1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for run := range 2 {
		_, grads, err := r.Run()
		if err != nil {
			t.Fatal(err)
		}
		if calls != run+1 {
			t.Fatalf("run %d: the map ran %d times in all", run, calls)
		}
		for i := range x0s {
			p := x0s[i] * x1s[i]
			if got := y.Value().Data().([]float32)[i]; got != p {
				t.Errorf("y[%d] = %g, want %g", i, got, p)
			}
			var up float32
			if p > 0 {
				up = c[i]
			}
			if grads[0][i] != up*x1s[i] || grads[1][i] != up*x0s[i] {
				t.Errorf("∂x0[%d], ∂x1[%d] = %g, %g; want %g, %g", i, i, grads[0][i], grads[1][i], up*x1s[i], up*x0s[i])
			}
		}
	}
	if _, err := graphop.ApplyGradMap(mul{}, nil, x0, x1); err == nil {
		t.Error("ApplyGradMap with no map: no error")
	}
}
