package ste_test

import (
	"math"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

// lsqStepGrad is Σ g_i·∂q_i/∂s before the grad scale, from the per-element table d.
func lsqStepGrad(g, d []float32, n, qp float64) []float32 {
	var s float64
	for i := range g {
		s += float64(g[i]) * float64(d[i])
	}
	return []float32{float32(s / math.Sqrt(n*qp))}
}

func TestLSQ(t *testing.T) {
	// Weights, signed 3 bits: Q_N = 4, Q_P = 3; s = 0.5 so u = v/s = 2v.
	// u:        −6  −4  −2.2 −0.5  0  0.6  1.5  2.8  3  4
	// v̄:        −4  −4  −2   −0    0  1    2    3    3  3   (round half to even)
	// ∂q/∂v:     0   0   1    1    1  1    1    1    0  0   (−Q_N < u < Q_P)
	// ∂q/∂s:    −4  −4   0.2  0.5  0  0.4  0.5  0.2  3  3   (round(u)−u inside)
	wx := []float32{-3, -2, -1.1, -0.25, 0, 0.3, 0.75, 1.4, 1.5, 2}
	wg := []float32{1, 2, 1, 1, 3, -1, 1, 2, -2, 1}
	wds := []float32{-4, -4, 0.2, 0.5, 0, 0.4, 0.5, 0.2, 3, 3}
	// Unsigned inputs, 2 bits: Q_N = 0, Q_P = 3; s = 1; N = 4 features per sample.
	ux := []float32{-1, 0, 0.5, 1.5, 2.5, 3, 3.5, 0.2}
	ug := []float32{1, 1, 1, 1, 1, 1, 1, 2}
	uds := []float32{0, 0, -0.5, 0.5, -0.5, 3, 3, -0.2}
	// Signed inputs, 2 bits: Q_N = 2, Q_P = 1; s = 0.25; N = 4.
	// u:     −3  −2  −1.5  −0.4  0.4  1  1.2  0.5
	// v̄:     −2  −2  −2    −0    0    1  1    0
	sx := []float32{-0.75, -0.5, -0.375, -0.1, 0.1, 0.25, 0.3, 0.125}
	sg := []float32{1, -1, 2, 1, 1, 1, 1, 1}
	sds := []float32{-2, -2, -0.5, 0.4, -0.4, 1, 1, -0.5}
	tests := []gradCase{
		{name: "weights signed 3 bits", q: ste.LSQ{Bits: 3}, role: ste.Weights, shape: []int{2, 5},
			params: [][]float32{{0.5}}, x: wx,
			wantY: []float32{-2, -2, -1, 0, 0, 0.5, 1, 1.5, 1.5, 1.5},
			g:     wg, wantDX: []float32{0, 0, 1, 1, 3, -1, 1, 2, 0, 0},
			wantDP: [][]float32{lsqStepGrad(wg, wds, 10, 3)}},
		{name: "inputs unsigned 2 bits", q: ste.LSQ{Bits: 2}, role: ste.Inputs, shape: []int{2, 4},
			params: [][]float32{{1}}, x: ux,
			wantY: []float32{0, 0, 0, 2, 2, 3, 3, 0},
			g:     ug, wantDX: []float32{0, 0, 1, 1, 1, 0, 0, 2},
			wantDP: [][]float32{lsqStepGrad(ug, uds, 4, 3)}},
		{name: "inputs signed 2 bits", q: ste.LSQ{Bits: 2, Signed: true}, role: ste.Inputs, shape: []int{2, 4},
			params: [][]float32{{0.25}}, x: sx,
			wantY: []float32{-0.5, -0.5, -0.5, 0, 0, 0.25, 0.25, 0},
			g:     sg, wantDX: []float32{0, 0, 2, 1, 1, 0, 0, 1},
			wantDP: [][]float32{lsqStepGrad(sg, sds, 4, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestLSQInit(t *testing.T) {
	t.Run("weights", func(t *testing.T) {
		// Signed 4 bits: Q_P = 7; s = 2·mean|w|/√7 = 2·0.5/√7.
		w := []float32{0.25, -0.75, 0.5, -0.5}
		f, err := ste.LSQ{Bits: 4}.Build(ste.Target{Shape: []int{2, 2}, Role: ste.Weights, Init: w})
		if err != nil {
			t.Fatal(err)
		}
		ps := f.Params()
		if len(ps) != 1 || ps[0].Name != "step" || len(ps[0].Data) != 1 {
			t.Fatalf("Params = %+v, want one scalar step", ps)
		}
		if want := float32(1 / math.Sqrt(7)); !tableNear(ps[0].Data[0], want) {
			t.Errorf("initial step %g, want %g", ps[0].Data[0], want)
		}
	})
	tests := []struct {
		name string
		q    ste.LSQ
		qp   float64
	}{
		{"unsigned 4 bits", ste.LSQ{Bits: 4}, 15},
		{"signed 4 bits", ste.LSQ{Bits: 4, Signed: true}, 7},
		{"unsigned 1 bit", ste.LSQ{Bits: 1}, 1},
	}
	for _, tc := range tests {
		t.Run("inputs/"+tc.name, func(t *testing.T) {
			f, err := tc.q.Build(ste.Target{Shape: []int{2, 3}, Role: ste.Inputs})
			if err != nil {
				t.Fatal(err)
			}
			p := initialParams(f)
			if p[0][0] != 0 {
				t.Fatalf("inputs start with step %g, want 0 (set by the first batch)", p[0][0])
			}
			// First batch: mean|x| = 1, so s = 2/√Q_P.
			x1 := []float32{1, -2, 0.5, 1.5, 0, -1}
			y := make([]float32, len(x1))
			if err := f.Forward(y, x1, p, ste.Ctx{Rows: 2}); err != nil {
				t.Fatal(err)
			}
			want := float32(2 / math.Sqrt(tc.qp))
			if !tableNear(p[0][0], want) {
				t.Errorf("step after the first batch %g, want %g", p[0][0], want)
			}
			// A second batch leaves it alone.
			x2 := []float32{10, 10, 10, 10, 10, 10}
			if err := f.Forward(y, x2, p, ste.Ctx{Rows: 2}); err != nil {
				t.Fatal(err)
			}
			if !tableNear(p[0][0], want) {
				t.Errorf("step after the second batch %g, want %g", p[0][0], want)
			}
			// In a graph the step node's value is set the same way.
			gp := initialParams(f)
			quantizeInGraph(t, f, []int{2, 3}, x1, gp, make([]float32, 6))
			if !tableNear(gp[0][0], want) {
				t.Errorf("in-graph step after the first batch %g, want %g", gp[0][0], want)
			}
		})
	}
}

// TestLSQStepState covers the writes to the step (rejected values, the floor
// kept in the node's state) and the ∂s cache's absence for direct callers.
func TestLSQStepState(t *testing.T) {
	t.Run("bad step", func(t *testing.T) {
		f, err := ste.LSQ{Bits: 4}.Build(ste.Target{Shape: []int{1, 2}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []float32{-1, float32(math.Inf(1)), float32(math.NaN())} {
			if err := f.Forward(make([]float32, 2), []float32{1, 2}, [][]float32{{s}}, ste.Ctx{Rows: 1}); err == nil {
				t.Errorf("step %g: no error", s)
			}
		}
	})
	t.Run("step clamped at its floor", func(t *testing.T) {
		f, err := ste.LSQ{Bits: 8}.Build(ste.Target{Shape: []int{1, 2}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		p := [][]float32{{0.5}}
		c := ste.Ctx{Rows: 1, State: f.(ste.Stateful).NewState()} // the floor lives in the node's state
		if err := f.Forward(make([]float32, 2), []float32{1, 2}, p, c); err != nil {
			t.Fatal(err)
		}
		p[0][0] = -0.01 // an optimizer overshot below zero
		if err := f.Forward(make([]float32, 2), []float32{1, 2}, p, c); err != nil {
			t.Fatal(err)
		}
		if p[0][0] != 0.5*1e-3 {
			t.Errorf("step after the overshoot %g, want the floor %g", p[0][0], 0.5*1e-3)
		}
	})
	t.Run("direct caller reusing the upstream buffer", func(t *testing.T) {
		f, err := ste.LSQ{Bits: 4}.Build(ste.Target{Shape: []int{1, 3}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		x, p, c := []float32{0.3, -0.2, 5}, [][]float32{{0.25}}, ste.Ctx{Rows: 1}
		g := []float32{1, 1, 1}
		dx, ds := make([]float32, 3), make([]float32, 1)
		if err := f.Grad(0, dx, g, x, nil, p, c); err != nil {
			t.Fatal(err)
		}
		copy(g, []float32{2, 0, 0}) // same buffer, new upstream gradient
		if err := f.Grad(1, ds, g, x, nil, p, c); err != nil {
			t.Fatal(err)
		}
		fresh := make([]float32, 1)
		if err := f.Grad(1, fresh, []float32{2, 0, 0}, x, nil, p, c); err != nil {
			t.Fatal(err)
		}
		if ds[0] != fresh[0] {
			t.Errorf("∂s after reusing the buffer %g, want %g: a stale cached value", ds[0], fresh[0])
		}
	})
	t.Run("bits", func(t *testing.T) {
		if _, err := (ste.LSQ{Bits: 1}).Build(ste.Target{Shape: []int{1, 2}, Role: ste.Weights, Init: []float32{1, 1}}); err == nil {
			t.Error("signed 1-bit weights: no error")
		}
	})
}

// lsqRelaxed is q(s) with round frozen at s0: the function whose derivative the
// LSQ step gradient is. Inside the clip range round(v/s) becomes v/s + (round(u0) − u0),
// u0 = v/s0; outside, q = −Q_N·s or Q_P·s.
func lsqRelaxed(v, s, s0, qn, qp float64) float64 {
	u0 := v / s0
	switch {
	case u0 <= -qn:
		return -qn * s
	case u0 >= qp:
		return qp * s
	}
	return (v/s + math.RoundToEven(u0) - u0) * s
}

// TestLSQStepCentral compares ∂L/∂s with central differences, after undoing the
// grad scale 1/√(N·Q_P): on the true q(v) for values outside the clip range (q is
// smooth in s there) and on the relaxed function for a mix of values.
func TestLSQStepCentral(t *testing.T) {
	tests := []struct {
		name   string
		q      ste.LSQ
		role   ste.Role
		qn, qp float64
		s      float32
		x, c   []float32
		exact  bool // every value outside the clip range: compare with the real q
	}{
		{name: "signed outside", q: ste.LSQ{Bits: 3}, role: ste.Weights, qn: 4, qp: 3, s: 0.3,
			x: []float32{-5, -2, 1.2, 3, -1.5, 7}, c: []float32{1, -2, 0.5, 3, -1, 2}, exact: true},
		{name: "unsigned outside", q: ste.LSQ{Bits: 2}, role: ste.Inputs, qn: 0, qp: 3, s: 0.2,
			x: []float32{-1, 0.8, 2, -0.3, 0.61, 5}, c: []float32{1, 2, 3, 4, 5, 6}, exact: true},
		{name: "signed mixed", q: ste.LSQ{Bits: 4}, role: ste.Weights, qn: 8, qp: 7, s: 0.11,
			x: []float32{-5, -0.37, 0.05, 0.29, 0.5, 0.77, -0.91, 2}, c: []float32{1, -2, 0.5, 3, -1, 2, 0.3, -0.7}},
		{name: "unsigned mixed", q: ste.LSQ{Bits: 3}, role: ste.Inputs, qn: 0, qp: 7, s: 0.13,
			x: []float32{-0.5, 0.07, 0.2, 0.33, 0.61, 0.8, 0.95, 3}, c: []float32{0.5, 1, -1, 2, -2, 1, 3, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shape := []int{2, len(tc.x) / 2}
			target := ste.Target{Shape: shape, Role: tc.role}
			n := float64(len(tc.x))
			if tc.role == ste.Inputs {
				n /= 2
			} else {
				target.Init = tc.x
			}
			f, err := tc.q.Build(target)
			if err != nil {
				t.Fatal(err)
			}
			ds := make([]float32, 1)
			y := make([]float32, len(tc.x))
			p := [][]float32{{tc.s}}
			if err := f.Forward(y, tc.x, p, ste.Ctx{Rows: 2}); err != nil {
				t.Fatal(err)
			}
			if err := f.Grad(1, ds, tc.c, tc.x, y, p, ste.Ctx{Rows: 2}); err != nil {
				t.Fatal(err)
			}
			got := float64(ds[0]) * math.Sqrt(n*tc.qp) // undo the grad scale
			const h = 1e-3
			s0 := float64(tc.s)
			relaxed := func(s float64) float64 {
				var l float64
				for i, v := range tc.x {
					l += float64(tc.c[i]) * lsqRelaxed(float64(v), s, s0, tc.qn, tc.qp)
				}
				return l
			}
			want := (relaxed(s0+h) - relaxed(s0-h)) / (2 * h)
			if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("relaxed: ∂L/∂s = %.6f (unscaled), central difference %.6f", got, want)
			}
			if !tc.exact {
				return
			}
			real := func(s float32) float64 {
				if err := f.Forward(y, tc.x, [][]float32{{s}}, ste.Ctx{Rows: 2}); err != nil {
					t.Fatal(err)
				}
				var l float64
				for i, v := range y {
					l += float64(tc.c[i]) * float64(v)
				}
				return l
			}
			hs := float32(1e-3)
			want = (real(tc.s+hs) - real(tc.s-hs)) / float64((tc.s+hs)-(tc.s-hs))
			// float32 forward, h = 1e-3: 1e-2 relative.
			if math.Abs(got-want) > 1e-2*math.Max(1, math.Abs(want)) {
				t.Errorf("real q: ∂L/∂s = %.6f (unscaled), central difference %.6f", got, want)
			}
		})
	}
}
