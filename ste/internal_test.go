package ste

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDoReFaNormalizeCentral differentiates the function the k>1 forward pass
// actually uses, w ↦ Σ c·(2·dorefaNormalize(w) − 1) (round taken as the identity),
// by central differences in float32 and compares with dorefaWeights.Grad.
func TestDoReFaNormalizeCentral(t *testing.T) {
	tests := []struct {
		name string
		w, c []float32
	}{
		{"positive max", []float32{0.1, -0.7, 1.3, 0.4, -0.2, 0.9}, []float32{1, -2, 0.5, 3, -1, 2}},
		{"negative max", []float32{0.1, -1.7, 1.3, 0.4, -0.2, 0.9}, []float32{1, -2, 0.5, 3, -1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := make([]float32, len(tc.w))
			loss := func(w []float32) float64 {
				if err := dorefaNormalize(r, w); err != nil {
					t.Fatal(err)
				}
				var s float64
				for i, v := range r {
					s += float64(tc.c[i]) * float64(2*v-1)
				}
				return s
			}
			got := make([]float32, len(tc.w))
			if err := (dorefaWeights{levels: 3}).Grad(0, got, tc.c, tc.w, nil, nil, Ctx{Rows: 1}); err != nil {
				t.Fatal(err)
			}
			w := append([]float32(nil), tc.w...)
			const h = 1e-2
			for i := range w {
				old := w[i]
				w[i] = old + h
				lp := loss(w)
				w[i] = old - h
				lm := loss(w)
				w[i] = old
				want := (lp - lm) / float64((old+h)-(old-h))
				// float32 forward, h = 1e-2: 1e-2 relative.
				if math.Abs(float64(got[i])-want) > 1e-2*math.Max(1, math.Abs(want)) {
					t.Errorf("∂/∂w[%d]: Grad %.5f, central difference %.5f", i, got[i], want)
				}
			}
		})
	}
	t.Run("all zero", func(t *testing.T) {
		if err := dorefaNormalize(make([]float32, 3), make([]float32, 3)); err == nil {
			t.Error("no error for all-zero weights")
		}
	})
}

// TestKMeansNearest compares the binary search against a linear scan with ties to the lower index.
func TestKMeansNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		c := make([]float32, 1<<(1+trial%5))
		for i := range c {
			c[i] = float32(rng.IntN(9)-4) / 2 // many duplicates and exact ties
		}
		nn, err := newNearest(c)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			x := float32(rng.IntN(21)-10) / 4
			want, best := 0, math.Inf(1)
			for k, v := range c {
				if d := math.Abs(float64(x) - float64(v)); d < best {
					want, best = k, d
				}
			}
			if got := nn.find(x); got != want {
				t.Fatalf("c = %v, x = %g: index %d, want %d", c, x, got, want)
			}
		}
	}
}
