package graphop_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
	"github.com/lowbit/lowbit/internal/graphoptest"
)

// affine is y = a·x + b elementwise; with sum set it returns the scalar Σ(a·x + b).
type affine struct {
	a, b float32
	sum  bool
}

func (k affine) String() string { return fmt.Sprintf("affine(%g,%g)", k.a, k.b) }
func (k affine) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("affine: %d inputs", len(in))
	}
	if k.sum {
		return tensor.Shape{}, nil
	}
	return in[0].Clone(), nil
}
func (k affine) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	if k.sum {
		var s float32
		for _, v := range in[0].Data {
			s += k.a*v + k.b
		}
		out.Data[0] = s
		return nil
	}
	for i, v := range in[0].Data {
		out.Data[i] = k.a*v + k.b
	}
	return nil
}
func (k affine) DiffWRT(int) bool { return true }
func (k affine) Backward(_ int, d graphop.Tensor, _ []graphop.Tensor, _, g graphop.Tensor) error {
	for i := range d.Data {
		if k.sum {
			d.Data[i] = k.a * g.Data[0]
		} else {
			d.Data[i] = k.a * g.Data[i]
		}
	}
	return nil
}

// mul is y = x₀·x₁ elementwise.
type mul struct{}

func (mul) String() string { return "mul" }
func (mul) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in) != 2 || !in[0].Eq(in[1]) {
		return nil, fmt.Errorf("mul: shapes %v", in)
	}
	return in[0].Clone(), nil
}
func (mul) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	for i := range out.Data {
		out.Data[i] = in[0].Data[i] * in[1].Data[i]
	}
	return nil
}
func (mul) DiffWRT(int) bool { return true }
func (mul) Backward(wrt int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	other := in[1-wrt].Data
	for i := range d.Data {
		d.Data[i] = g.Data[i] * other[i]
	}
	return nil
}

// failing returns err from Forward.
type failing struct{ affine }

var errBoom = errors.New("boom")

func (failing) Forward(graphop.Tensor, []graphop.Tensor) error { return errBoom }

func input(g *gorgonia.ExprGraph, name string, data []float32) *gorgonia.Node {
	t := tensor.New(tensor.WithShape(len(data)), tensor.WithBacking(data))
	return gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(len(data)), gorgonia.WithName(name), gorgonia.WithValue(t))
}

func apply(t *testing.T, k graphop.Kernel, in ...*gorgonia.Node) *gorgonia.Node {
	t.Helper()
	n, err := graphop.Apply(k, in...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEqualKernelsStayDistinct(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", []float32{1, 2, 3})
	y1 := apply(t, affine{a: 2, b: 1}, x)
	y2 := apply(t, affine{a: 2, b: 1}, x)
	if y1 == y2 || y1.ID() == y2.ID() {
		t.Fatalf("two applications of equal kernels merged into node %v", y1)
	}
	if y1.Hashcode() == y2.Hashcode() {
		t.Errorf("equal hash codes %d", y1.Hashcode())
	}
	if got := len(g.AllNodes()); got != 3 {
		t.Errorf("graph has %d nodes, want 3 (x, y1, y2)", got)
	}
	// Their gradient nodes stay distinct too.
	s := apply(t, mul{}, y1, y2)
	loss, err := graphoptest.Dot(s, []float32{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := graphoptest.NewRunner(g, loss, x)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, grads, err := r.Run()
	if err != nil {
		t.Fatal(err)
	}
	// L = Σ (2x+1)², ∂L/∂x = 4·(2x+1).
	for i, want := range []float32{12, 20, 28} {
		if grads[0][i] != want {
			t.Errorf("∂L/∂x[%d] = %g, want %g", i, grads[0][i], want)
		}
	}
}

func TestBuffersReused(t *testing.T) {
	tests := []struct {
		name string
		k    affine
	}{
		{"tensor", affine{a: 3, b: -1}},
		{"scalar", affine{a: 3, b: -1, sum: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			xd := []float32{1, 2}
			x := input(g, "x", xd)
			y := apply(t, tc.k, x)
			loss := y
			if !tc.k.sum {
				var err error
				if loss, err = graphoptest.Dot(y, []float32{1, 10}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := graphoptest.NewRunner(g, loss, x)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			l1, _, err := r.Run()
			if err != nil {
				t.Fatal(err)
			}
			yv1, gv1 := y.Value(), r.Grads[0].Value()
			var yp1 *float32
			if !tc.k.sum {
				yp1 = &y.Value().Data().([]float32)[0]
			}
			gp1 := &r.Grads[0].Value().Data().([]float32)[0]

			xd[0], xd[1] = 5, 7
			l2, grads, err := r.Run()
			if err != nil {
				t.Fatal(err)
			}
			if y.Value() != yv1 || r.Grads[0].Value() != gv1 {
				t.Errorf("second run produced new values")
			}
			if !tc.k.sum {
				if yp := &y.Value().Data().([]float32)[0]; yp != yp1 {
					t.Errorf("output backing slice changed between runs")
				}
			}
			if gp := &r.Grads[0].Value().Data().([]float32)[0]; gp != gp1 {
				t.Errorf("gradient backing slice changed between runs")
			}
			// The second run sees the new input.
			want1, want2 := float64(2+50), float64(14+200)
			wantG := []float32{3, 30}
			if tc.k.sum {
				want1, want2 = 2+5, 14+20
				wantG = []float32{3, 3}
			}
			if l1 != want1 || l2 != want2 {
				t.Errorf("losses %g, %g, want %g, %g", l1, l2, want1, want2)
			}
			for i := range wantG {
				if grads[0][i] != wantG[i] {
					t.Errorf("grad[%d] = %g, want %g", i, grads[0][i], wantG[i])
				}
			}
		})
	}
}

func TestGradientsOfSharedNodesAreSummed(t *testing.T) {
	xs := []float32{1, -2, 0.5}
	c := []float32{1, 2, -3}
	tests := []struct {
		name  string
		build func(t *testing.T, x *gorgonia.Node) *gorgonia.Node
		grad  func(x float32) float32 // ∂y_i/∂x_i
	}{
		{"same op twice", func(t *testing.T, x *gorgonia.Node) *gorgonia.Node {
			return apply(t, mul{}, x, x) // x²
		}, func(x float32) float32 { return 2 * x }},
		{"two ops", func(t *testing.T, x *gorgonia.Node) *gorgonia.Node {
			u := apply(t, affine{a: 2, b: 1}, x)
			v := apply(t, affine{a: -3, b: 0.5}, x)
			return apply(t, mul{}, u, v) // (2x+1)(−3x+½)
		}, func(x float32) float32 { return 2*(-3*x+0.5) - 3*(2*x+1) }},
		{"three paths", func(t *testing.T, x *gorgonia.Node) *gorgonia.Node {
			u := apply(t, mul{}, x, x)
			return apply(t, mul{}, u, x) // x³
		}, func(x float32) float32 { return 3 * x * x }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := input(g, "x", append([]float32(nil), xs...))
			loss, err := graphoptest.Dot(tc.build(t, x), c)
			if err != nil {
				t.Fatal(err)
			}
			r, err := graphoptest.NewRunner(g, loss, x)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for run := 0; run < 2; run++ { // a second run must not accumulate into the first
				_, grads, err := r.Run()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range xs {
					want := c[i] * tc.grad(v)
					if !graphoptest.Near(float64(grads[0][i]), float64(want), 1e-6, 1e-6) {
						t.Errorf("run %d: ∂L/∂x[%d] = %g, want %g", run, i, grads[0][i], want)
					}
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", []float32{1, 2})
	x64 := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(2), gorgonia.WithName("x64"))
	tests := []struct {
		name string
		k    graphop.Kernel
		in   []*gorgonia.Node
	}{
		{"no inputs", affine{}, nil},
		{"float64 input", affine{}, []*gorgonia.Node{x64}},
		{"shape error", mul{}, []*gorgonia.Node{x}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := graphop.Apply(tc.k, tc.in...); err == nil {
				t.Errorf("Apply = %v, want an error", n)
			}
		})
	}
	t.Run("forward error", func(t *testing.T) {
		g := gorgonia.NewGraph()
		x := input(g, "x", []float32{1, 2})
		apply(t, failing{}, x)
		vm := gorgonia.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("RunAll = %v, want boom", err)
		}
	})
	t.Run("second order", func(t *testing.T) {
		g := gorgonia.NewGraph()
		x := input(g, "x", []float32{1, 2})
		y := apply(t, affine{a: 2, sum: true}, x)
		dx, err := gorgonia.Grad(y, x)
		if err != nil {
			t.Fatal(err)
		}
		l2 := apply(t, affine{a: 1, sum: true}, dx[0])
		if _, err := gorgonia.Grad(l2, x); err == nil {
			t.Errorf("second-order gradient built without error")
		}
	})
}
