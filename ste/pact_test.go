package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"errors"
	"strings"
	"testing"
)

func TestPACT(t *testing.T) {
	cases := []struct {
		name   string
		spec   string
		str    string
		decay  float32 // Param.Decay
		alpha  float32 // α for the pass
		x, g   []float32
		wantQ  []float32
		wantGX []float32 // g·1{0 ≤ x < α}
		wantGA float32   // Σ g·1{x ≥ α}
	}{{
		// 2 bits, α = 3: step α/3 = 1; 1.5 rounds half to even (2).
		name: "2 bits", spec: "pact(bits=2,alpha=3)", str: "pact(bits=2,alpha=3,decay=0.0001)", decay: 1e-4, alpha: 3,
		x:      []float32{-1, 0, 0.4, 1.5, 2.6, 3, 4},
		g:      []float32{1, 2, 3, 4, 5, 6, 7},
		wantQ:  []float32{0, 0, 0, 2, 3, 3, 3},
		wantGX: []float32{0, 2, 3, 4, 5, 0, 0},
		wantGA: 6 + 7,
	}, {
		// 4 bits, α = 1.5: step 0.1; round(3.3) = 3, round(12) = 12, 2 clips to α.
		name: "4 bits", spec: "pact(bits=4,alpha=1.5,decay=0.001)", str: "pact(bits=4,alpha=1.5,decay=0.001)", decay: 1e-3, alpha: 1.5,
		x:      []float32{0.33, 1.2, 2, -0.2},
		g:      []float32{1, -2, 3, 4},
		wantQ:  []float32{0.3, 1.2, 1.5, 0},
		wantGX: []float32{1, -2, 0, 0},
		wantGA: 3,
	}, {
		// defaults: 4 bits, α = 10: x·15/10 = 1.5 and 7.5 round half to even (2, 8),
		// times the step 10/15. decay=0 turns the L2 term off.
		name: "defaults", spec: "pact(decay=0)", str: "pact(bits=4,alpha=10,decay=0)", decay: 0, alpha: 10,
		x:      []float32{1, 5, 12},
		g:      []float32{1, 1, 1},
		wantQ:  []float32{4.0 / 3, 16.0 / 3, 10},
		wantGX: []float32{1, 1, 0},
		wantGA: 1,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, f := qtBuild(t, c.spec, ste.Target{Shape: []int{1, len(c.x)}, Role: ste.Inputs})
			if q.String() != c.str || q.Name() != "pact" {
				t.Fatalf("Parse(%q) = %q", c.spec, q.String())
			}
			qtRoundTrip(t, q)
			ps := f.Params()
			if len(ps) != 1 || ps[0].Name != "alpha" || len(ps[0].Data) != 1 || ps[0].Data[0] != c.alpha || ps[0].Decay != c.decay {
				t.Fatalf("params %+v", ps)
			}
			p := [][]float32{{c.alpha}}
			y := qtForward(t, f, c.x, p, 1)
			qtClose(t, "q", y, c.wantQ, 1e-6)
			qtClose(t, "q(q)", qtForward(t, f, y, p, 1), y, 0)
			qtClose(t, "dx", qtGrad(t, f, 0, len(c.x), c.g, c.x, p, 1), c.wantGX, 0)
			da := qtGrad(t, f, 1, 1, c.g, c.x, p, 1)
			qtClose(t, "dα", da, []float32{c.wantGA}, 1e-6)
			// Central differences on the smooth part y = clip(x, 0, α): ∂/∂α Σ g·y = Σ g·1{x > α}.
			// PACT's STE uses this derivative, taking 1 at the kink x = α (one-sided).
			const h = 1e-3
			var num float64
			for i, v := range c.x {
				if v == c.alpha {
					num += float64(c.g[i])
					continue
				}
				num += float64(c.g[i]) * (float64(min(max(v, 0), c.alpha+h)) - float64(min(max(v, 0), c.alpha-h))) / (2 * h)
			}
			qtClose(t, "central difference clip", []float32{float32(num)}, da, 2e-3)
		})
	}
}

// TestPACTClipped checks ∂α where every x is clipped, and the level count.
func TestPACTClipped(t *testing.T) {
	t.Run("clipped central difference", func(t *testing.T) {
		// With every x above α, q = α exactly, so ∂(Σ g·q)/∂α = Σ g on the true forward.
		_, f := qtBuild(t, "pact(bits=3)", ste.Target{Shape: []int{2, 2}, Role: ste.Inputs})
		x := []float32{5, 6, 7, 8}
		g := []float32{0.5, -1, 2, 0.25}
		const a, h = 4, 1e-2
		num := (qtLoss(t, f, g, x, [][]float32{{a + h}}, 2) - qtLoss(t, f, g, x, [][]float32{{a - h}}, 2)) / (2 * h)
		qtClose(t, "dα", qtGrad(t, f, 1, 1, g, x, [][]float32{{a}}, 2), []float32{float32(num)}, 1e-4)
		qtClose(t, "dα", []float32{float32(num)}, []float32{1.75}, 1e-4)
	})
	t.Run("levels", func(t *testing.T) {
		_, f := qtBuild(t, "pact(bits=2,alpha=1)", ste.Target{Shape: []int{1, 64}, Role: ste.Inputs})
		x := make([]float32, 64)
		for i := range x {
			x[i] = float32(i)/32 - 0.5
		}
		seen := map[float32]bool{}
		for _, v := range qtForward(t, f, x, [][]float32{{1}}, 1) {
			seen[v] = true
		}
		if len(seen) != 4 {
			t.Fatalf("%d levels, want 4: %v", len(seen), seen)
		}
	})
}

func TestPACTErrors(t *testing.T) {
	_, f := qtBuild(t, "pact", ste.Target{Shape: []int{1, 3}, Role: ste.Inputs})
	x := []float32{1, 2, 3}
	y := make([]float32, 3)
	cases := []struct {
		name string
		err  error
	}{
		{"alpha zero", f.Forward(y, x, [][]float32{{0}}, ste.Ctx{Rows: 1})},
		{"alpha negative", f.Grad(0, y, x, x, y, [][]float32{{-1}}, ste.Ctx{Rows: 1})},
		{"no params", f.Forward(y, x, nil, ste.Ctx{Rows: 1})},
		{"length", f.Forward(y[:2], x, [][]float32{{1}}, ste.Ctx{Rows: 1})},
		{"grad length", f.Grad(0, y[:2], x, x, y, [][]float32{{1}}, ste.Ctx{Rows: 1})},
		{"grad alpha length", f.Grad(1, y, x, x, y, [][]float32{{1}}, ste.Ctx{Rows: 1})},
		{"wrt", f.Grad(2, y[:1], x, x, y, [][]float32{{1}}, ste.Ctx{Rows: 1})},
		{"build alpha", func() error { _, err := (ste.PACT{Alpha: -2}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"build bits", func() error { _, err := (ste.PACT{Bits: 17}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"parse alpha", func() error { _, err := ste.Parse("pact(alpha=0)"); return err }()},
		{"parse decay", func() error { _, err := ste.Parse("pact(decay=-1)"); return err }()},
		{"parse bits", func() error { _, err := ste.Parse("pact(bits=0)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(c.err.Error(), "pact") {
				t.Fatalf("error %q does not name pact", c.err)
			}
		})
	}
	if err := f.Forward(y, x, [][]float32{{0}}, ste.Ctx{Rows: 1}); !errors.Is(err, ste.ErrParam) {
		t.Fatalf("α = 0: %v, want ErrParam", err)
	}
}
