package ste_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

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
				r := newConfRun(t, name, tg.role, tg.shape)
				t.Run("graph equals direct", r.graphEqualsDirect)
				t.Run("levels", r.levels)
				t.Run("idempotent", r.idempotent)
				t.Run("descriptor", r.descriptor)
				t.Run("symmetric", r.symmetric)
			})
		}
	}
}

// confRun is one quantizer built for one target, run in a graph and directly.
type confRun struct {
	q       ste.Quantizer
	f       ste.Func
	role    ste.Role
	rows, n int
	x       []float32
	gp      [][]float32 // the parameter values the graph saw
	yg, y1  []float32   // q(x) in the graph, directly
	gg, d1  [][]float32 // gradients in the graph, directly
	// A stochastic part (DoReFa's gradient noise) differs between two calls.
	stochasticY, stochasticGrad bool
}

func newConfRun(t *testing.T, name string, role ste.Role, shape []int) *confRun {
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
	r := &confRun{q: q, role: role, rows: shape[0], n: 1}
	for _, d := range shape {
		r.n *= d
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(name))))
	r.x = uniformVec(rng, r.n, -2, 2)
	c := uniformVec(rng, r.n, -1, 1)
	target := ste.Target{Shape: shape, Role: role}
	if role == ste.Weights {
		target.Init = r.x
	}
	if r.f, err = q.Build(target); err != nil {
		t.Fatalf("%s cannot be built for %s: %v", q, role, err)
	}
	for i, p := range r.f.Params() {
		if p.Name == "" || len(p.Data) == 0 {
			t.Errorf("parameter %d = %+v: want a name and an initial value", i, p)
		}
	}
	// In-graph forward and gradients.
	r.gp = cloneParams(initialParams(r.f))
	r.yg, r.gg = quantizeInGraph(t, r.f, shape, r.x, r.gp, c)
	if !finiteAll(r.yg) {
		t.Errorf("non-finite output %v", r.yg)
	}
	for i, d := range r.gg {
		if !finiteAll(d) {
			t.Errorf("non-finite gradient %d: %v", i, d)
		}
	}
	// The same computation called directly, with the parameter values the
	// graph saw (LSQ initialises its step from the first batch).
	var y2 []float32
	var d2 [][]float32
	r.y1, r.d1 = quantizeDirect(t, r.f, r.rows, r.x, cloneParams(r.gp), c)
	y2, d2 = quantizeDirect(t, r.f, r.rows, r.x, cloneParams(r.gp), c)
	r.stochasticY = !slices.Equal(r.y1, y2)
	r.stochasticGrad = !slices.EqualFunc(r.d1, d2, slices.Equal[[]float32])
	return r
}

func (r *confRun) graphEqualsDirect(t *testing.T) {
	if r.stochasticY {
		t.Skip("stochastic forward: two direct calls with equal inputs differ")
	}
	if !slices.Equal(r.yg, r.y1) {
		t.Errorf("in-graph q(x) differs from Forward:\n got %v\nwant %v", r.yg, r.y1)
	}
	if r.stochasticGrad {
		t.Skip("stochastic gradient: two direct calls with equal inputs differ")
	}
	for i := range r.gg {
		if !slices.Equal(r.gg[i], r.d1[i]) {
			t.Errorf("in-graph gradient %d differs from Grad:\n got %v\nwant %v", i, r.gg[i], r.d1[i])
		}
	}
}

func (r *confRun) levels(t *testing.T) {
	bits := ste.BitsFor(r.q, r.role)
	if bits >= 24 {
		t.Skipf("%d bits", bits)
	}
	per := r.n / r.rows
	for i := 0; i < r.rows; i++ {
		row := slices.Clone(r.y1[i*per : (i+1)*per])
		slices.Sort(row)
		if k := len(slices.Compact(row)); k > 1<<bits {
			t.Errorf("row %d has %d levels, more than 2^%d: %v", i, k, bits, row)
		}
	}
}

func (r *confRun) idempotent(t *testing.T) {
	if r.stochasticY {
		t.Skip("stochastic forward: two direct calls with equal inputs differ")
	}
	yy := make([]float32, r.n)
	if err := r.f.Forward(yy, r.y1, cloneParams(r.gp), ste.Ctx{Rows: r.rows}); err != nil {
		t.Fatal(err)
	}
	for i := range yy {
		if !tableNear(yy[i], r.y1[i]) {
			t.Errorf("q(q(x))[%d] = %g, q(x) = %g (x = %g)", i, yy[i], r.y1[i], r.x[i])
		}
	}
}

// descriptor: a Func that gives an inference descriptor computes exactly it,
// bit for bit, so the packed engine reproduces training.
func (r *confRun) descriptor(t *testing.T) {
	d, ok, err := ste.Infer(r.f, cloneParams(r.gp))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("no inference descriptor: the output depends on more than the value")
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("descriptor %v: %v", d, err)
	}
	got := make([]float32, r.n)
	d.Apply(got, r.x)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(r.y1[i]) {
			t.Fatalf("descriptor %v gives %g at x=%g, Forward %g", d, got[i], r.x[i], r.y1[i])
		}
	}
}

// symmetric: an input quantizer with fixed levels below zero declares itself
// Symmetric, so models put no ReLU in front of it.
func (r *confRun) symmetric(t *testing.T) {
	if r.role != ste.Inputs || r.q.DataInit() || ste.BitsFor(r.q, r.role) >= 24 {
		t.Skip("weights, data-derived levels or no quantization")
	}
	if slices.Min(r.y1) < 0 && !r.q.Symmetric() {
		t.Errorf("levels below zero (%g) but Symmetric() is false", slices.Min(r.y1))
	}
	if slices.Min(r.y1) >= 0 && r.q.Symmetric() {
		t.Errorf("no level below zero but Symmetric() is true")
	}
}
