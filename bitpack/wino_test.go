package bitpack

import (
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// TestWinoPrepare: which int8 layers get Winograd weights: 3×3 stride-1
// convolutions with channels in multiples of 64 whose transformed weights
// fit s8 and whose input codes are at most 42 (the transformed inputs fit
// u8); never without the CPU's VNNI and AVX-512 BW. Every layer gives the
// naive accumulators.
func TestWinoPrepare(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		cin, cout, k, stride int
		wlo, whi             int
		q                    InputQuant
		want                 bool
	}{
		{"4-bit", 64, 128, 3, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 15)), true},
		{"signed codes", 128, 64, 3, 1, -8, 7, InputQuant(qfunc.Step(0.11, -8, 7)), true},
		{"codes 42", 64, 64, 3, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 42)), true},
		{"codes 43", 64, 64, 3, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 43)), false},
		{"8-bit weights", 64, 64, 3, 1, -128, 127, InputQuant(qfunc.Clipped(2.5, 15)), false},
		{"stride 2", 64, 64, 3, 2, -8, 7, InputQuant(qfunc.Clipped(2.5, 15)), false},
		{"1x1", 64, 64, 1, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 15)), false},
		{"cout 70", 64, 70, 3, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 15)), false},
		{"cin 96", 96, 64, 3, 1, -8, 7, InputQuant(qfunc.Clipped(2.5, 15)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 4))
			l, _ := intLinear(rng, KernelInt8, "l", tc.cin, tc.cout, tc.k, tc.stride, tc.k/2)
			l.Input = tc.q
			l.Weights.Levels = randLevels(rng, tc.cout*tc.k*tc.k*tc.cin, tc.wlo, tc.whi, false)
			l.Weights.Bits = 8
			oh := (6+2*(tc.k/2)-tc.k)/tc.stride + 1
			m, err := NewModel(Spec{Input: []int{6, 6, tc.cin}, Classes: oh * oh * tc.cout, Layers: []LayerSpec{l}})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want && winoAvailable()
			if got := m.layers[0].(*linear).wino != nil; got != want {
				t.Errorf("Winograd weights: %v, want %v (CPU has the path: %v)", got, want, winoAvailable())
			}
			// The accumulators are the naive ones on every path (inputs
			// reaching the largest codes).
			x := randF(rng, 2*6*6*tc.cin, 4)
			for _, th := range []int{1, 2} {
				checkIntegerLayer(t, m, l, x, 2, th, true)
			}
		})
	}
}
