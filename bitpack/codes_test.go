package bitpack

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// TestCodes: the vector codes equal InputQuant.Codes bit for bit,
// including ties, ±0, ±Inf, NaN, huge values and odd lengths.
func TestCodes(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.5, 1.5, 2.5, -7.5, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 3.4999999, 0.49999997}
	for _, q := range []InputQuant{
		InputQuant(qfunc.Levels(3)), InputQuant(qfunc.Levels(1)), InputQuant(qfunc.Step(0.11, -8, 7)),
		InputQuant(qfunc.Clipped(2.5, 15)), InputQuant(qfunc.Step(0.5, -128, 127)), InputQuant(qfunc.Levels(255)),
	} {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range []int{1, 15, 16, 17, 100, 1027} {
			x := randF(rng, n, 4)
			for i := range x {
				if rng.IntN(4) == 0 {
					x[i] = special[rng.IntN(len(special))]
				}
				if rng.IntN(8) == 0 { // exact halves of the code step
					x[i] = (float32(rng.IntN(40)-20) + 0.5) / q.Mul
				}
			}
			got, want := make([]uint8, n), make([]uint8, n)
			inputCodes(q, got, x)
			q.Codes(want, x)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s n=%d: code(%g) = %d, want %d", q, n, x[i], got[i], want[i])
				}
			}
		}
	}
}
