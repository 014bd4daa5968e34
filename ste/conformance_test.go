package ste_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphoptest"
	"github.com/lowbit/lowbit/ste"
)

// quantizeInGraph runs f on x (of the given shape) through ste.Apply inside a
// Gorgonia graph whose loss is L = Σ c_i·y_i, and returns y, ∂L/∂x and ∂L/∂p_j.
// The parameter nodes are backed by params, so in-graph writes (LSQ's first-batch
// step initialisation) show up there.
func quantizeInGraph(t *testing.T, f ste.Func, shape []int, x []float32, params [][]float32, c []float32) (y []float32, grads [][]float32) {
	t.Helper()
	g := gorgonia.NewGraph()
	xt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(x)))
	xn := gorgonia.NewTensor(g, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName("x"), gorgonia.WithValue(xt))
	wrt := gorgonia.Nodes{xn}
	var pn []*gorgonia.Node
	for i, p := range params {
		pt := tensor.New(tensor.WithShape(len(p)), tensor.WithBacking(p))
		n := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(len(p)), gorgonia.WithName(f.Params()[i].Name), gorgonia.WithValue(pt))
		pn = append(pn, n)
		wrt = append(wrt, n)
	}
	yn, err := ste.Apply(f, "q", xn, pn...)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := graphoptest.Dot(yn, c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := graphoptest.NewRunner(g, loss, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, grads, err = r.Run(); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(yn.Value().Data().([]float32)), grads
}

// quantizeDirect calls f.Forward and f.Grad for x and every parameter.
func quantizeDirect(t *testing.T, f ste.Func, rows int, x []float32, params [][]float32, g []float32) (y []float32, grads [][]float32) {
	t.Helper()
	ctx := ste.Ctx{Rows: rows}
	y = make([]float32, len(x))
	if err := f.Forward(y, x, params, ctx); err != nil {
		t.Fatal(err)
	}
	grads = append(grads, make([]float32, len(x)))
	for _, p := range params {
		grads = append(grads, make([]float32, len(p)))
	}
	for wrt, d := range grads {
		for i := range d {
			d[i] = float32(math.NaN()) // Grad must write every element
		}
		if err := f.Grad(wrt, d, g, x, y, params, ctx); err != nil {
			t.Fatal(err)
		}
	}
	return y, grads
}

func cloneParams(ps [][]float32) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p)
	}
	return out
}

func initialParams(f ste.Func) [][]float32 {
	var out [][]float32
	for _, p := range f.Params() {
		out = append(out, slices.Clone(p.Data))
	}
	return out
}

// gradCase is one row of a quantizer's table: inputs, the expected q(x), an upstream
// gradient g and the expected ∂L/∂x (and ∂L/∂p for learnable parameters).
type gradCase struct {
	name   string
	q      ste.Quantizer
	role   ste.Role
	shape  []int
	params [][]float32 // nil: the built Func's initial values
	x      []float32
	wantY  []float32
	g      []float32
	wantDX []float32
	wantDP [][]float32
}

// tableTol is the float32 tolerance of every table: |got − want| ≤ 1e-6 + 1e-6·|want|.
const tableTol = 1e-6

func tableNear(got, want float32) bool {
	return graphoptest.Near(float64(got), float64(want), tableTol, tableTol)
}

// run checks the case through direct calls and through a graph.
func (tc gradCase) run(t *testing.T) {
	t.Helper()
	target := ste.Target{Shape: tc.shape, Role: tc.role}
	if tc.role == ste.Weights {
		target.Init = tc.x
	}
	f, err := tc.q.Build(target)
	if err != nil {
		t.Fatal(err)
	}
	params := tc.params
	if params == nil {
		params = initialParams(f)
	}
	for _, mode := range []string{"direct", "graph"} {
		p := cloneParams(params)
		var y []float32
		var grads [][]float32
		if mode == "direct" {
			y, grads = quantizeDirect(t, f, tc.shape[0], tc.x, p, tc.g)
		} else {
			y, grads = quantizeInGraph(t, f, tc.shape, tc.x, p, tc.g)
		}
		for i := range tc.wantY {
			if !tableNear(y[i], tc.wantY[i]) {
				t.Errorf("%s: q(%g) = %g, want %g", mode, tc.x[i], y[i], tc.wantY[i])
			}
		}
		for i := range tc.wantDX {
			if !tableNear(grads[0][i], tc.wantDX[i]) {
				t.Errorf("%s: ∂L/∂x at x=%g is %g, want %g", mode, tc.x[i], grads[0][i], tc.wantDX[i])
			}
		}
		for j, want := range tc.wantDP {
			for i := range want {
				if !tableNear(grads[j+1][i], want[i]) {
					t.Errorf("%s: ∂L/∂%s[%d] = %g, want %g", mode, f.Params()[j].Name, i, grads[j+1][i], want[i])
				}
			}
		}
	}
}

func uniformVec(rng *rand.Rand, n int, lo, hi float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = lo + (hi-lo)*rng.Float32()
	}
	return out
}

func finiteAll(xs []float32) bool {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// TestConformance runs every registered quantizer, with default parameters, on a
// conv weight tensor and on a batch of activations.
func TestConformance(t *testing.T) {
	targets := []struct {
		role  ste.Role
		shape []int
	}{
		{ste.Weights, []int{4, 3, 3, 2}},
		{ste.Inputs, []int{8, 16}},
	}
	names := ste.Names()
	if len(names) < 6 {
		t.Fatalf("only %d quantizers registered: %v", len(names), names)
	}
	for _, name := range names {
		for _, tg := range targets {
			t.Run(name+"/"+tg.role.String(), func(t *testing.T) {
				q, err := ste.Parse(name)
				if err != nil {
					t.Fatalf("Parse(%q): %v", name, err)
				}
				if q == nil || q.Name() != name {
					t.Fatalf("Parse(%q) = %v, want a quantizer named %q", name, q, name)
				}
				if again, err := ste.Parse(q.String()); err != nil || again.String() != q.String() {
					t.Errorf("Parse(String()) = %v, %v; want %s", again, err, q.String())
				}
				n := 1
				for _, d := range tg.shape {
					n *= d
				}
				rows := tg.shape[0]
				rng := rand.New(rand.NewPCG(7, uint64(len(name))))
				x := uniformVec(rng, n, -2, 2)
				c := uniformVec(rng, n, -1, 1)
				target := ste.Target{Shape: tg.shape, Role: tg.role}
				if tg.role == ste.Weights {
					target.Init = x
				}
				f, err := q.Build(target)
				if err != nil {
					t.Fatalf("%s cannot be built for %s: %v", q, tg.role, err)
				}
				params := initialParams(f)
				for i, p := range f.Params() {
					if p.Name == "" || len(p.Data) == 0 {
						t.Errorf("parameter %d = %+v: want a name and an initial value", i, p)
					}
				}

				// In-graph forward and gradients.
				gp := cloneParams(params)
				yg, gg := quantizeInGraph(t, f, tg.shape, x, gp, c)
				if !finiteAll(yg) {
					t.Errorf("non-finite output %v", yg)
				}
				for i, d := range gg {
					if !finiteAll(d) {
						t.Errorf("non-finite gradient %d: %v", i, d)
					}
				}

				// The same computation called directly, with the parameter values the
				// graph saw (LSQ initialises its step from the first batch).
				y1, d1 := quantizeDirect(t, f, rows, x, cloneParams(gp), c)
				y2, d2 := quantizeDirect(t, f, rows, x, cloneParams(gp), c)
				// A stochastic part (DoReFa's gradient noise) differs between two calls.
				stochasticY := !slices.Equal(y1, y2)
				stochasticGrad := !slices.EqualFunc(d1, d2, slices.Equal[[]float32])

				t.Run("graph equals direct", func(t *testing.T) {
					if stochasticY {
						t.Skip("stochastic forward: two direct calls with equal inputs differ")
					}
					if !slices.Equal(yg, y1) {
						t.Errorf("in-graph q(x) differs from Forward:\n got %v\nwant %v", yg, y1)
					}
					if stochasticGrad {
						t.Skip("stochastic gradient: two direct calls with equal inputs differ")
					}
					for i := range gg {
						if !slices.Equal(gg[i], d1[i]) {
							t.Errorf("in-graph gradient %d differs from Grad:\n got %v\nwant %v", i, gg[i], d1[i])
						}
					}
				})

				t.Run("levels", func(t *testing.T) {
					bits := ste.BitsFor(q, tg.role)
					if bits >= 24 {
						t.Skipf("%d bits", bits)
					}
					per := n / rows
					for r := 0; r < rows; r++ {
						row := slices.Clone(y1[r*per : (r+1)*per])
						slices.Sort(row)
						if k := len(slices.Compact(row)); k > 1<<bits {
							t.Errorf("row %d has %d levels, more than 2^%d: %v", r, k, bits, row)
						}
					}
				})

				t.Run("idempotent", func(t *testing.T) {
					if stochasticY {
						t.Skip("stochastic forward: two direct calls with equal inputs differ")
					}
					p := cloneParams(gp)
					yy := make([]float32, n)
					if err := f.Forward(yy, y1, p, ste.Ctx{Rows: rows}); err != nil {
						t.Fatal(err)
					}
					for i := range yy {
						if !tableNear(yy[i], y1[i]) {
							t.Errorf("q(q(x))[%d] = %g, q(x) = %g (x = %g)", i, yy[i], y1[i], x[i])
						}
					}
				})
			})
		}
	}
}
