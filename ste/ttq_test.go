package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"errors"
	"strings"
	"testing"
)

func TestTTQ(t *testing.T) {
	// max|w| = 2, Δ = 0.05·2 = 0.1. Positive set {2, 0.3}, negative {−1, −0.2},
	// zero set {0.05, 0.1} (0.1 = Δ exactly is zero: |w| ≤ Δ).
	w := []float32{2, 0.05, -1, -0.2, 0.3, 0.1}
	g := []float32{1, 2, 3, 4, 5, 6}
	cases := []struct {
		name   string
		spec   string
		str    string
		init   [2]float32 // W_p, W_n from Params
		p      [2]float32 // W_p, W_n used for the pass
		wantQ  []float32
		wantGW []float32 // latent: W_p·g, g, W_n·g by region
		wantGp float32   // Σ_{pos} g = 1 + 5
		wantGn float32   // −Σ_{neg} g = −(3 + 4)
	}{{
		name: "default", spec: "ttq", str: "ttq(threshold=0.05)",
		init: [2]float32{1, 1}, p: [2]float32{1, 1},
		wantQ:  []float32{1, 0, -1, -1, 1, 0},
		wantGW: []float32{1, 2, 3, 4, 5, 6},
		wantGp: 6, wantGn: -7,
	}, {
		name: "trained scalars", spec: "ttq(threshold=0.05)", str: "ttq(threshold=0.05)",
		init: [2]float32{1, 1}, p: [2]float32{1.5, 0.5},
		wantQ:  []float32{1.5, 0, -0.5, -0.5, 1.5, 0},
		wantGW: []float32{1.5, 2, 1.5, 2, 7.5, 6},
		wantGp: 6, wantGn: -7,
	}, {
		// init=mean: W_p = (2+0.3)/2, W_n = (1+0.2)/2 over the same sets.
		name: "init mean", spec: "ttq(init=mean)", str: "ttq(threshold=0.05,init=mean)",
		init: [2]float32{1.15, 0.6}, p: [2]float32{1.15, 0.6},
		wantQ:  []float32{1.15, 0, -0.6, -0.6, 1.15, 0},
		wantGW: []float32{1.15, 2, 1.8, 2.4, 5.75, 6},
		wantGp: 6, wantGn: -7,
	}, {
		// Δ = 0.2·2 = 0.4: −0.2 and 0.3 join the zero set.
		name: "threshold", spec: "ttq(threshold=0.2)", str: "ttq(threshold=0.2)",
		init: [2]float32{1, 1}, p: [2]float32{2, 3},
		wantQ:  []float32{2, 0, -3, 0, 0, 0},
		wantGW: []float32{2, 2, 9, 4, 5, 6},
		wantGp: 1, wantGn: -3,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, f := qtBuild(t, c.spec, ste.Target{Shape: []int{2, 3}, Role: ste.Weights, Init: w})
			if q.String() != c.str || q.Name() != "ttq" || q.BitsFor(ste.Weights) != 2 {
				t.Fatalf("Parse(%q) = %q", c.spec, q.String())
			}
			qtRoundTrip(t, q)
			ps := f.Params()
			if len(ps) != 2 || ps[0].Name != "wp" || ps[1].Name != "wn" {
				t.Fatalf("params %+v", ps)
			}
			qtClose(t, "init", []float32{ps[0].Data[0], ps[1].Data[0]}, c.init[:], 1e-6)
			p := [][]float32{{c.p[0]}, {c.p[1]}}
			y := qtForward(t, f, w, p, 2)
			qtClose(t, "q", y, c.wantQ, 1e-6)
			qtClose(t, "q(q)", qtForward(t, f, y, p, 2), y, 0)
			qtClose(t, "dW", qtGrad(t, f, 0, len(w), g, w, p, 2), c.wantGW, 1e-6)
			qtClose(t, "dWp", qtGrad(t, f, 1, 1, g, w, p, 2), []float32{c.wantGp}, 1e-6)
			qtClose(t, "dWn", qtGrad(t, f, 2, 1, g, w, p, 2), []float32{c.wantGn}, 1e-6)
			// q is linear in W_p and W_n, so central differences of Σ g·q match exactly.
			const h = 1e-2
			for i, want := range []float32{c.wantGp, c.wantGn} {
				hi := [][]float32{{c.p[0]}, {c.p[1]}}
				lo := [][]float32{{c.p[0]}, {c.p[1]}}
				hi[i][0] += h
				lo[i][0] -= h
				num := (qtLoss(t, f, g, w, hi, 2) - qtLoss(t, f, g, w, lo, 2)) / (2 * h)
				qtClose(t, "central difference", []float32{float32(num)}, []float32{want}, 1e-3)
			}
		})
	}
}

func TestTTQErrors(t *testing.T) {
	_, f := qtBuild(t, "ttq", ste.Target{Shape: []int{2, 2}, Role: ste.Weights})
	x := []float32{1, -1, 0.5, 0}
	y := make([]float32, 4)
	one := [][]float32{{1}, {1}}
	cases := []struct {
		name string
		err  error
	}{
		{"wp zero", f.Forward(y, x, [][]float32{{0}, {1}}, ste.Ctx{Rows: 2})},
		{"wn negative", f.Forward(y, x, [][]float32{{1}, {-1}}, ste.Ctx{Rows: 2})},
		{"params missing", f.Forward(y, x, [][]float32{{1}}, ste.Ctx{Rows: 2})},
		{"params long", f.Forward(y, x, [][]float32{{1, 2}, {1}}, ste.Ctx{Rows: 2})},
		{"all zero", f.Forward(y, []float32{0, 0, 0, 0}, one, ste.Ctx{Rows: 2})},
		{"length", f.Forward(y[:3], x, one, ste.Ctx{Rows: 2})},
		{"grad length", f.Grad(0, y[:2], x, x, y, one, ste.Ctx{Rows: 2})},
		{"grad scalar length", f.Grad(1, y, x, x, y, one, ste.Ctx{Rows: 2})},
		{"grad wp zero", f.Grad(1, y[:1], x, x, y, [][]float32{{0}, {1}}, ste.Ctx{Rows: 2})},
		{"wrt", f.Grad(3, y[:1], x, x, y, one, ste.Ctx{Rows: 2})},
		{"build threshold", func() error { _, err := (ste.TTQ{Threshold: 1}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"parse threshold", func() error { _, err := ste.Parse("ttq(threshold=0)"); return err }()},
		{"parse init", func() error { _, err := ste.Parse("ttq(init=zero)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(c.err.Error(), "ttq") {
				t.Fatalf("error %q does not name ttq", c.err)
			}
		})
	}
	if err := f.Forward(y, x, [][]float32{{0}, {1}}, ste.Ctx{Rows: 2}); !errors.Is(err, ste.ErrParam) {
		t.Fatalf("W_p = 0: %v, want ErrParam", err)
	}
}
