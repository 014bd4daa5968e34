package layers_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/layers"
)

func TestActivation(t *testing.T) {
	tests := []struct {
		l      *layers.Activation
		x      []float32
		wantY  []float64
		wantDX []float64 // for ∂L/∂y = 1
	}{
		// ReLU: y' = 1{x > 0}.
		{layers.ReLU("act"), []float32{-2, -0.5, 0, 0.25, 3},
			[]float64{0, 0, 0, 0.25, 3}, []float64{0, 0, 0, 1, 1}},
		// HardTanh: y' = 1{−1 < x < 1}.
		{layers.HardTanh("act"), []float32{-2, -1, -0.5, 0, 0.5, 1, 3},
			[]float64{-1, -1, -0.5, 0, 0.5, 1, 1}, []float64{0, 0, 1, 1, 1, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.l.Kind(), func(t *testing.T) {
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", []int{1, len(tc.x)}, tc.x)
			y, err := tc.l.Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			ones := make([]float32, len(tc.x))
			for i := range ones {
				ones[i] = 1
			}
			loss, err := dotLossWith(y, ones)
			if err != nil {
				t.Fatal(err)
			}
			vals, grads := runGrads(t, g, loss, []variable{x}, y)
			assertClose(t, "y", vals[0], tc.wantY, 0)
			assertClose(t, "∂L/∂x", grads[0], tc.wantDX, 0)
		})
	}
}

func TestActivationGrad(t *testing.T) {
	for _, l := range []*layers.Activation{layers.ReLU("act"), layers.HardTanh("act")} {
		for _, n := range []int{24, 1 << 16} { // the large map takes the parallel path
			t.Run(fmt.Sprintf("%s/%d", l.Kind(), n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(41, 42))
				xs := randSlice(rng, n, -3, 3)
				for i, v := range xs { // keep 2h away from the kinks at 0 and ±1
					for _, k := range []float32{-1, 0, 1} {
						if v-k < 2*cdH && k-v < 2*cdH {
							xs[i] = k + 3*cdH
						}
					}
				}
				g := layers.NewGraph(true, nil)
				x := inputVar(g, "x", []int{n / 8, 8}, xs)
				y, err := l.Forward(g, x.node)
				if err != nil {
					t.Fatal(err)
				}
				if n <= 1024 {
					checkGrads(t, g, dotLoss(t, y, rng), x)
					return
				}
				// Large: compare with the derivative in closed form.
				c := make([]float32, n)
				for i := range c {
					c[i] = float32(i%7) - 3
				}
				loss, err := dotLossWith(y, c)
				if err != nil {
					t.Fatal(err)
				}
				vals, grads := runGrads(t, g, loss, []variable{x}, y)
				wantY, wantDX := make([]float64, n), make([]float64, n)
				for i, v := range xs {
					switch l.Kind() {
					case "relu":
						wantY[i] = float64(max(v, 0))
						if v > 0 {
							wantDX[i] = float64(c[i])
						}
					default:
						wantY[i] = float64(min(max(v, -1), 1))
						if v > -1 && v < 1 {
							wantDX[i] = float64(c[i])
						}
					}
				}
				assertClose(t, "y", vals[0], wantY, 0)
				assertClose(t, "∂L/∂x", grads[0], wantDX, 0)
			})
		}
	}
}
