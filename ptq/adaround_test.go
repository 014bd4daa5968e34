package ptq

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdaRoundBeatsNearest: on a fixed random layer (4-bit weights, per-row steps)
// AdaRound's reconstruction error is below rounding to nearest, and every learned
// level is ⌊w/s⌋ or ⌊w/s⌋+1 inside the grid.
func TestAdaRoundBeatsNearest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, k, r int
		bits       int
		perRow     bool
	}{
		{"4bit-per-row", 8, 36, 1024, 4, true},
		{"3bit-per-layer", 6, 20, 512, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			w := make([]float32, tc.rows*tc.k)
			for i := range w {
				w[i] = float32(rng.NormFloat64() * 0.3)
			}
			x := make([]float32, tc.r*tc.k)
			for i := range x {
				x[i] = float32(math.Round(rng.Float64()*15) / 15) // already on a 4-bit input grid
			}
			y := make([]float32, tc.r*tc.rows)
			for r := 0; r < tc.r; r++ {
				for o := 0; o < tc.rows; o++ {
					var s float32
					for j := 0; j < tc.k; j++ {
						s += x[r*tc.k+j] * w[o*tc.k+j]
					}
					y[r*tc.rows+o] = s
				}
			}
			g := Grid{Bits: tc.bits, Signed: true}
			_, qp := g.Levels()
			steps := []float32{0}
			if tc.perRow {
				steps = make([]float32, tc.rows)
			}
			for i, v := range w {
				r := min(i/tc.k, len(steps)-1)
				steps[r] = max(steps[r], abs32(v)/qp)
			}
			near := make([]float32, len(w))
			for i, v := range w {
				s := steps[min(i/tc.k, len(steps)-1)]
				near[i] = float32(math.RoundToEven(float64(v/s))) * s
			}
			levels, err := AdaRound(w, tc.rows, tc.k, steps, g, x, y, AdaConfig{Iters: 600}, 3)
			if err != nil {
				t.Fatal(err)
			}
			ada := make([]float32, len(w))
			qn, _ := g.Levels()
			for i, l := range levels {
				s := steps[min(i/tc.k, len(steps)-1)]
				fl := float32(math.Floor(float64(w[i] / s)))
				if (l != fl && l != fl+1) || l < -qn || l > qp {
					t.Fatalf("weight %d: level %g, floor %g", i, l, fl)
				}
				ada[i] = l * s
			}
			ln, la := ReconLoss(near, tc.rows, tc.k, x, y), ReconLoss(ada, tc.rows, tc.k, x, y)
			t.Logf("reconstruction: nearest %.5f, AdaRound %.5f", ln, la)
			if !(la < ln) {
				t.Errorf("AdaRound %.5f not below nearest %.5f", la, ln)
			}
		})
	}
}

func TestAdaRoundBadShapes(t *testing.T) {
	w := make([]float32, 6)
	if _, err := AdaRound(w, 2, 3, []float32{1}, Grid{Bits: 4, Signed: true}, make([]float32, 5), make([]float32, 4), AdaConfig{}, 1); err == nil {
		t.Error("ragged inputs accepted")
	}
	if _, err := AdaRound(w, 2, 3, []float32{0}, Grid{Bits: 4, Signed: true}, make([]float32, 6), make([]float32, 4), AdaConfig{}, 1); err == nil {
		t.Error("zero step accepted")
	}
}
