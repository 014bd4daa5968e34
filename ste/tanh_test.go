package ste

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTanhMax: tanhMax (vec.TanhRational for small weights, math.Tanh for the
// rest) gives float32(math.Tanh(float64(w))) bit for bit and its max: special
// values, every float32 around the 0.625 switch and around 0, random bit
// patterns and weight-like values, at lengths that leave assembly tails.
func TestTanhMax(t *testing.T) {
	xs := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 0.625, -0.625, 44, -44, 1e-20}
	for _, c := range []float32{0.625, -0.625, 0.5, 1e-3, 1e-30} {
		k := math.Float32bits(c)
		for d := range uint32(20001) {
			xs = append(xs, math.Float32frombits(k-10000+d))
		}
	}
	rng := rand.New(rand.NewPCG(29, 3))
	for range 200000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()), float32(rng.NormFloat64()*0.1))
	}
	t.Logf("formula in use: %v", tanhFormulaOK)
	for _, n := range []int{len(xs), len(xs) - 3, 7, 1} {
		w := xs[len(xs)-n:]
		u := make([]float32, n)
		m := tanhMax(u, w)
		var want float32
		for i, x := range w {
			ref := float32(math.Tanh(float64(x)))
			if math.Float32bits(u[i]) != math.Float32bits(ref) && !(ref != ref && u[i] != u[i]) {
				t.Fatalf("n=%d: tanh(%g) = %g, math.Tanh gives %g", n, x, u[i], ref)
			}
			if a := abs(ref); a > want {
				want = a
			}
		}
		if m != want {
			t.Fatalf("n=%d: max %g, want %g", n, m, want)
		}
	}
}
