package ste

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// ---- helpers for the quantizer table tests (prefixed qt to stay out of other tests' way) ----

// qtBuild parses spec and builds it for tg.
func qtBuild(t *testing.T, spec string, tg Target) (Quantizer, Func) {
	t.Helper()
	q, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	f, err := q.Build(tg)
	if err != nil {
		t.Fatalf("%s: Build: %v", spec, err)
	}
	return q, f
}

// qtInit copies the initial parameter values of f.
func qtInit(f Func) [][]float32 {
	var p [][]float32
	for _, v := range f.Params() {
		p = append(p, append([]float32(nil), v.Data...))
	}
	return p
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
func qtForward(t *testing.T, f Func, x []float32, p [][]float32, rows int) []float32 {
	t.Helper()
	y := make([]float32, len(x))
	if err := f.Forward(y, x, p, Ctx{Rows: rows}); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	return y
}

// qtGrad runs f.Grad for wrt into a fresh dst of length n.
func qtGrad(t *testing.T, f Func, wrt, n int, g, x []float32, p [][]float32, rows int) []float32 {
	t.Helper()
	y := make([]float32, len(x))
	if err := f.Forward(y, x, p, Ctx{Rows: rows}); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	dst := make([]float32, n)
	if err := f.Grad(wrt, dst, g, x, y, p, Ctx{Rows: rows}); err != nil {
		t.Fatalf("Grad(%d): %v", wrt, err)
	}
	return dst
}

// qtLoss is L = Σ g·q(x) in float64, for central differences.
func qtLoss(t *testing.T, f Func, g, x []float32, p [][]float32, rows int) float64 {
	t.Helper()
	y := qtForward(t, f, x, p, rows)
	var l float64
	for i := range y {
		l += float64(g[i]) * float64(y[i])
	}
	return l
}

// qtRoundTrip checks that Parse(q.String()) prints the same spec.
func qtRoundTrip(t *testing.T, q Quantizer) {
	t.Helper()
	back, err := Parse(q.String())
	if err != nil {
		t.Fatalf("Parse(%q): %v", q.String(), err)
	}
	if back.String() != q.String() || back.Name() != q.Name() {
		t.Fatalf("round trip %q -> %q", q.String(), back.String())
	}
}

func TestTWN(t *testing.T) {
	w6 := []float32{0.9, -0.1, 0.05, -0.6, 0.3, 0.2}
	g6 := []float32{1, 2, 3, 4, 5, 6}
	cases := []struct {
		name  string
		spec  string
		q     Quantizer // the value the spec parses to
		str   string    // its String
		rows  int
		w, g  []float32
		wantQ []float32
		wantG []float32
	}{{
		// mean|w| = 2.15/6 = 0.35833, Δ = 0.25083; |w| > Δ: 0.9, 0.6, 0.3 → α = 0.6.
		name: "layer", spec: "twn", q: TWN{}, str: "twn", rows: 2, w: w6, g: g6,
		wantQ: []float32{0.6, 0, 0, -0.6, 0.6, 0},
		wantG: g6,
	}, {
		// row 0: mean 0.35, Δ 0.245, α = 0.9; row 1: mean 0.36667, Δ 0.25667, α = (0.6+0.3)/2.
		name: "perchannel", spec: "twn(perchannel)", q: TWN{PerChannel: true}, str: "twn(perchannel)", rows: 2, w: w6, g: g6,
		wantQ: []float32{0.9, 0, 0, -0.45, 0.45, 0},
		wantG: g6,
	}, {
		// mean 1.1, Δ 0.77, α = (1.5+2)/2; the gradient is cut where |w| > 1.
		name: "clip", spec: "twn(clip=1)", q: TWN{Clip: 1}, str: "twn(clip=1)", rows: 1,
		w: []float32{1.5, -2, 0.4, -0.5}, g: []float32{1, 2, 3, 4},
		wantQ: []float32{1.75, -1.75, 0, 0},
		wantG: []float32{0, 0, 3, 4},
	}, {
		// an all-zero row stays zero; row 1: mean 1, Δ 0.7, α 1.
		name: "zero row", spec: "twn(perchannel=true)", q: TWN{PerChannel: true}, str: "twn(perchannel)", rows: 2,
		w: []float32{0, 0, 1, -1}, g: []float32{1, 1, 1, 1},
		wantQ: []float32{0, 0, 1, -1},
		wantG: []float32{1, 1, 1, 1},
	}, {
		// Δ exactly 0.7·mean: w = ±Δ is in the zero set (|w| ≤ Δ). mean|w| = 1 → Δ = 0.7.
		name: "boundary", spec: "twn", q: TWN{}, str: "twn", rows: 1,
		w: []float32{0.7, -0.7, 1.3, -1.3}, g: []float32{1, 1, 1, 1},
		wantQ: []float32{0, 0, 1.3, -1.3},
		wantG: []float32{1, 1, 1, 1},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, f := qtBuild(t, c.spec, Target{Shape: []int{c.rows, len(c.w) / c.rows}, Role: Weights, Init: c.w})
			if q != c.q || q.String() != c.str || q.Name() != "twn" || q.BitsFor(Weights) != 2 {
				t.Fatalf("Parse(%q) = %#v %q", c.spec, q, q.String())
			}
			qtRoundTrip(t, q)
			if len(f.Params()) != 0 {
				t.Fatalf("params %v", f.Params())
			}
			y := qtForward(t, f, c.w, nil, c.rows)
			qtClose(t, "q", y, c.wantQ, 1e-6)
			qtClose(t, "grad", qtGrad(t, f, 0, len(c.w), c.g, c.w, nil, c.rows), c.wantG, 0)
			// q(q(w)) = q(w): the ternary values keep their own Δ and α.
			qtClose(t, "q(q)", qtForward(t, f, y, nil, c.rows), y, 1e-6)
		})
	}
}

func TestTWNErrors(t *testing.T) {
	_, f := qtBuild(t, "twn", Target{Shape: []int{2, 2}, Role: Weights})
	_, fpc := qtBuild(t, "twn(perchannel)", Target{Shape: []int{2, 2}, Role: Weights})
	_, fin := qtBuild(t, "twn", Target{Shape: []int{1, 2}, Role: Inputs})
	y := make([]float32, 4)
	cases := []struct {
		name string
		err  error
	}{
		{"all zero", f.Forward(y, []float32{0, 0, 0, 0}, nil, Ctx{Rows: 2})},
		{"all zero per channel", fpc.Forward(y, []float32{0, 0, 0, 0}, nil, Ctx{Rows: 2})},
		{"length", f.Forward(y[:3], []float32{1, 2, 3, 4}, nil, Ctx{Rows: 2})},
		{"rows", fpc.Forward(y[:3], []float32{1, 2, 3}, nil, Ctx{Rows: 2})},
		{"grad length", f.Grad(0, y[:3], y, y, y, nil, Ctx{Rows: 2})},
		{"wrt", f.Grad(1, y, y, y, y, nil, Ctx{Rows: 2})},
		{"build clip", func() error { _, err := (TWN{Clip: -1}).Build(Target{Shape: []int{1}}); return err }()},
		{"build shape", func() error { _, err := (TWN{}).Build(Target{}); return err }()},
		{"parse clip", func() error { _, err := Parse("twn(clip=-1)"); return err }()},
		{"parse unknown", func() error { _, err := Parse("twn(bits=2)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(c.err, ErrParam) && !strings.Contains(c.err.Error(), "twn") {
				t.Fatalf("error %q names neither ErrParam nor twn", c.err)
			}
		})
	}
	// All-zero inputs (a dead batch) quantize to zero without error.
	if err := fin.Forward(y, []float32{0, 0, 0, 0}, nil, Ctx{Rows: 2}); err != nil {
		t.Fatalf("inputs all zero: %v", err)
	}
}
