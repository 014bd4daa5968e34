package ste_test

import (
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
					t.Skipf("%s cannot be built for %s: %v", q, tg.role, err)
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
