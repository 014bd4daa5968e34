package ste_test

// The one test harness of package ste: table cases (gradCase) run through direct
// calls and through a graph, and the small helpers (prefixed qt) the per-quantizer
// tests build on.

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

// qtBuild parses spec and builds it for tg.
func qtBuild(t *testing.T, spec string, tg ste.Target) (ste.Quantizer, ste.Func) {
	t.Helper()
	q, err := ste.Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	f, err := q.Build(tg)
	if err != nil {
		t.Fatalf("%s: Build: %v", spec, err)
	}
	return q, f
}

// qtClose fails unless got and want agree element-wise within tol.
func qtClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
			t.Fatalf("%s[%d] = %g, want %g (got %v)", what, i, got[i], want[i], got)
		}
	}
}

// qtForward runs f.Forward on a fresh output.
func qtForward(t *testing.T, f ste.Func, x []float32, p [][]float32, rows int) []float32 {
	t.Helper()
	y := make([]float32, len(x))
	if err := f.Forward(y, x, p, ste.Ctx{Rows: rows}); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	return y
}

// qtGrad runs f.Grad for wrt into a fresh dst of length n.
func qtGrad(t *testing.T, f ste.Func, wrt, n int, g, x []float32, p [][]float32, rows int) []float32 {
	t.Helper()
	y := make([]float32, len(x))
	if err := f.Forward(y, x, p, ste.Ctx{Rows: rows}); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	dst := make([]float32, n)
	if err := f.Grad(wrt, dst, g, x, y, p, ste.Ctx{Rows: rows}); err != nil {
		t.Fatalf("Grad(%d): %v", wrt, err)
	}
	return dst
}

// qtLoss is L = Σ g·q(x) in float64, for central differences.
func qtLoss(t *testing.T, f ste.Func, g, x []float32, p [][]float32, rows int) float64 {
	t.Helper()
	y := qtForward(t, f, x, p, rows)
	var l float64
	for i := range y {
		l += float64(g[i]) * float64(y[i])
	}
	return l
}

// qtRoundTrip checks that Parse(q.String()) prints the same spec.
func qtRoundTrip(t *testing.T, q ste.Quantizer) {
	t.Helper()
	back, err := ste.Parse(q.String())
	if err != nil {
		t.Fatalf("Parse(%q): %v", q.String(), err)
	}
	if back.String() != q.String() || back.Name() != q.Name() {
		t.Fatalf("round trip %q -> %q", q.String(), back.String())
	}
}

// qtMaxAbs is max|x|.
func qtMaxAbs(x []float32) float32 {
	var m float32
	for _, v := range x {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m
}
