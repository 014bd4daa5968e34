// Package graphoptest holds test helpers for code built on internal/graphop:
// a weighted-sum loss kernel, a runner that returns the loss and gradients of
// a graph, and central differences.
package graphoptest

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// dotKernel is L = Σ_i c_i·y_i, accumulated in float64; ∂L/∂y = c·g.
type dotKernel struct{ c []float32 }

func (k dotKernel) String() string { return "test-dot" }

func (k dotKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if in[0].TotalSize() != len(k.c) {
		return nil, fmt.Errorf("graphoptest: dot of %v with %d weights", in[0], len(k.c))
	}
	return tensor.Shape{}, nil
}

func (k dotKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	var s float64
	for i, v := range in[0].Data {
		s += float64(k.c[i]) * float64(v)
	}
	out.Data[0] = float32(s)
	return nil
}

func (k dotKernel) DiffWRT(int) bool { return true }

func (k dotKernel) Backward(_ int, d graphop.Tensor, _ []graphop.Tensor, _, g graphop.Tensor) error {
	for i, c := range k.c {
		d.Data[i] = c * g.Data[0]
	}
	return nil
}

// Dot adds the scalar loss L = Σ c_i·y_i to y's graph.
func Dot(y *gorgonia.Node, c []float32) (*gorgonia.Node, error) {
	return graphop.Apply(dotKernel{c: c}, y)
}

// Runner evaluates a loss and its gradients on a tape machine.
type Runner struct {
	Loss  *gorgonia.Node
	Grads gorgonia.Nodes
	vm    gorgonia.VM
}

// NewRunner differentiates loss with respect to wrt and compiles g.
func NewRunner(g *gorgonia.ExprGraph, loss *gorgonia.Node, wrt ...*gorgonia.Node) (*Runner, error) {
	r := &Runner{Loss: loss}
	if len(wrt) > 0 {
		gs, err := gorgonia.Grad(loss, wrt...)
		if err != nil {
			return nil, err
		}
		r.Grads = gs
	}
	r.vm = gorgonia.NewTapeMachine(g)
	return r, nil
}

// Run executes the graph once and returns the loss and a copy of each gradient.
func (r *Runner) Run() (float64, [][]float32, error) {
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return 0, nil, err
	}
	l, err := Scalar(r.Loss.Value())
	if err != nil {
		return 0, nil, err
	}
	out := make([][]float32, len(r.Grads))
	for i, n := range r.Grads {
		d, ok := n.Value().Data().([]float32)
		if !ok {
			return 0, nil, fmt.Errorf("graphoptest: gradient %d is %T", i, n.Value().Data())
		}
		out[i] = append([]float32(nil), d...)
	}
	return l, out, nil
}

// Close releases the machine.
func (r *Runner) Close() error { return r.vm.Close() }

// Scalar reads a float32 scalar value.
func Scalar(v gorgonia.Value) (float64, error) {
	switch d := v.Data().(type) {
	case float32:
		return float64(d), nil
	case []float32:
		if len(d) == 1 {
			return float64(d[0]), nil
		}
	}
	return 0, fmt.Errorf("graphoptest: %T is not a float32 scalar", v.Data())
}

// CentralDiff returns (f(x+h·e_i) − f(x−h·e_i))/(2h) for every i, perturbing x in place
// and restoring it.
func CentralDiff(f func() (float64, error), x []float32, h float32) ([]float64, error) {
	out := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + h
		fp, err := f()
		if err != nil {
			x[i] = old
			return nil, err
		}
		x[i] = old - h
		fm, err := f()
		x[i] = old
		if err != nil {
			return nil, err
		}
		out[i] = (fp - fm) / (float64(old+h) - float64(old-h))
	}
	return out, nil
}

// Near reports |got − want| ≤ atol + rtol·|want|.
func Near(got, want, rtol, atol float64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	if want < 0 {
		want = -want
	}
	return d <= atol+rtol*want
}
