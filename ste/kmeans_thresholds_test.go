package ste

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestNearestThresholds: the threshold search (pos, and assign's unrolled
// forms) settles on the same position as find's bucket search (position) for
// every float32 tried:
// each threshold and its neighbours, the special values, random bit
// patterns and values near the centroids, over centroid sets with ties,
// duplicates, one value, 16 values and extreme magnitudes.
func TestNearestThresholds(t *testing.T) {
	inf := float32(math.Inf(1))
	sets := []struct {
		name string
		c    []float32
	}{
		{"one", []float32{0.3}},
		{"two", []float32{-1, 3}},
		{"unsorted duplicates", []float32{2, 0, 2, -1}},
		{"zero and negative zero", []float32{float32(math.Copysign(0, -1)), 0, 1, -1}},
		{"midpoint ties", []float32{-3, -1, 1, 3}},
		{"extremes", []float32{-3e38, -1e-38, 1e-45, 3e38}},
		{"wide exponents", []float32{-1e30, 1e-30, 2e-30, 7}},
		{"sixteen", linear16(t, -0.4, 0.35)},
		{"sixteen duplicates", append(linear16(t, -1, 1)[:12], 0.5, 0.5, -1, 1)},
		{"thirty-two (find per weight)", append(linear16(t, -1, 1), linear16(t, 1.5, 3)...)},
	}
	rng := rand.New(rand.NewPCG(23, 5))
	for _, s := range sets {
		var n nearest
		if err := n.reset(s.c); err != nil {
			t.Fatal(err)
		}
		xs := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
		for _, th := range n.thr {
			for d := -3; d <= 3; d++ {
				xs = append(xs, keyValue(th+d))
			}
		}
		for range 20000 {
			xs = append(xs, math.Float32frombits(rng.Uint32()))
			c := s.c[rng.IntN(len(s.c))]
			xs = append(xs, c*(1+float32(rng.NormFloat64())*1e-3), c+float32(rng.NormFloat64()))
		}
		for _, x := range xs {
			if len(s.c) > maxThresholdValues {
				break
			}
			if got, want := n.pos(x), n.position(x); got != want {
				t.Fatalf("%s: x = %g (%#08x): threshold position %d, search %d (thresholds %v)", s.name, x, math.Float32bits(x), got, want, n.thr)
			}
		}
		a, y := make([]uint16, len(xs)), make([]float32, len(xs))
		n.assign(a, y, xs, s.c) // the unrolled searches for 4 and 16 centroids
		for i, x := range xs {
			if k := n.find(x); int(a[i]) != k || math.Float32bits(y[i]) != math.Float32bits(s.c[k]) {
				t.Fatalf("%s: x = %g: assigned %d (%g), find %d", s.name, x, a[i], y[i], k)
			}
		}
	}
}

func linear16(t *testing.T, lo, hi float32) []float32 {
	c := make([]float32, 16)
	if err := linearCentroids(c, []float32{lo, hi}); err != nil {
		t.Fatal(err)
	}
	return c
}
