package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"errors"
	"strings"
	"testing"
)

func TestTWN(t *testing.T) {
	w6 := []float32{0.9, -0.1, 0.05, -0.6, 0.3, 0.2}
	g6 := []float32{1, 2, 3, 4, 5, 6}
	cases := []struct {
		name  string
		spec  string
		q     ste.Quantizer // the value the spec parses to
		str   string        // its String
		rows  int
		w, g  []float32
		wantQ []float32
		wantG []float32
	}{{
		// mean|w| = 2.15/6 = 0.35833, Δ = 0.25083; |w| > Δ: 0.9, 0.6, 0.3 → α = 0.6.
		name: "layer", spec: "twn", q: ste.TWN{}, str: "twn", rows: 2, w: w6, g: g6,
		wantQ: []float32{0.6, 0, 0, -0.6, 0.6, 0},
		wantG: g6,
	}, {
		// row 0: mean 0.35, Δ 0.245, α = 0.9; row 1: mean 0.36667, Δ 0.25667, α = (0.6+0.3)/2.
		name: "perchannel", spec: "twn(perchannel)", q: ste.TWN{PerChannel: true}, str: "twn(perchannel)", rows: 2, w: w6, g: g6,
		wantQ: []float32{0.9, 0, 0, -0.45, 0.45, 0},
		wantG: g6,
	}, {
		// mean 1.1, Δ 0.77, α = (1.5+2)/2; the gradient is cut where |w| > 1.
		name: "clip", spec: "twn(clip=1)", q: ste.TWN{Clip: 1}, str: "twn(clip=1)", rows: 1,
		w: []float32{1.5, -2, 0.4, -0.5}, g: []float32{1, 2, 3, 4},
		wantQ: []float32{1.75, -1.75, 0, 0},
		wantG: []float32{0, 0, 3, 4},
	}, {
		// an all-zero row stays zero; row 1: mean 1, Δ 0.7, α 1.
		name: "zero row", spec: "twn(perchannel=true)", q: ste.TWN{PerChannel: true}, str: "twn(perchannel)", rows: 2,
		w: []float32{0, 0, 1, -1}, g: []float32{1, 1, 1, 1},
		wantQ: []float32{0, 0, 1, -1},
		wantG: []float32{1, 1, 1, 1},
	}, {
		// Δ exactly 0.7·mean: w = ±Δ is in the zero set (|w| ≤ Δ). mean|w| = 1 → Δ = 0.7.
		name: "boundary", spec: "twn", q: ste.TWN{}, str: "twn", rows: 1,
		w: []float32{0.7, -0.7, 1.3, -1.3}, g: []float32{1, 1, 1, 1},
		wantQ: []float32{0, 0, 1.3, -1.3},
		wantG: []float32{1, 1, 1, 1},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, f := qtBuild(t, c.spec, ste.Target{Shape: []int{c.rows, len(c.w) / c.rows}, Role: ste.Weights, Init: c.w})
			if q != c.q || q.String() != c.str || q.Name() != "twn" || q.BitsFor(ste.Weights) != 2 {
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
	_, f := qtBuild(t, "twn", ste.Target{Shape: []int{2, 2}, Role: ste.Weights})
	_, fpc := qtBuild(t, "twn(perchannel)", ste.Target{Shape: []int{2, 2}, Role: ste.Weights})
	_, fin := qtBuild(t, "twn", ste.Target{Shape: []int{1, 2}, Role: ste.Inputs})
	y := make([]float32, 4)
	cases := []struct {
		name string
		err  error
	}{
		{"all zero", f.Forward(y, []float32{0, 0, 0, 0}, nil, ste.Ctx{Rows: 2})},
		{"all zero per channel", fpc.Forward(y, []float32{0, 0, 0, 0}, nil, ste.Ctx{Rows: 2})},
		{"length", f.Forward(y[:3], []float32{1, 2, 3, 4}, nil, ste.Ctx{Rows: 2})},
		{"rows", fpc.Forward(y[:3], []float32{1, 2, 3}, nil, ste.Ctx{Rows: 2})},
		{"grad length", f.Grad(0, y[:3], y, y, y, nil, ste.Ctx{Rows: 2})},
		{"wrt", f.Grad(1, y, y, y, y, nil, ste.Ctx{Rows: 2})},
		{"build clip", func() error { _, err := (ste.TWN{Clip: -1}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"build shape", func() error { _, err := (ste.TWN{}).Build(ste.Target{}); return err }()},
		{"parse clip", func() error { _, err := ste.Parse("twn(clip=-1)"); return err }()},
		{"parse unknown", func() error { _, err := ste.Parse("twn(bits=2)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(c.err, ste.ErrParam) && !strings.Contains(c.err.Error(), "twn") {
				t.Fatalf("error %q names neither ErrParam nor twn", c.err)
			}
		})
	}
	// All-zero inputs (a dead batch) quantize to zero without error.
	if err := fin.Forward(y, []float32{0, 0, 0, 0}, nil, ste.Ctx{Rows: 2}); err != nil {
		t.Fatalf("inputs all zero: %v", err)
	}
}
