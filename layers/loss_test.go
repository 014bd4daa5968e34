package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/internal/graphoptest"
	"github.com/lowbit/lowbit/layers"
)

func TestCrossEntropy(t *testing.T) {
	tests := []struct {
		name   string
		n, k   int
		labels []float32
		scale  float32 // logits magnitude
	}{
		{"small", 3, 4, []float32{0, 3, 1}, 2},
		{"binary", 4, 2, []float32{1, 0, 0, 1}, 1},
		{"large logits", 2, 5, []float32{4, 2}, 60}, // needs the max shift
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(51, 52))
			g := layers.NewGraph(true, nil)
			z := inputVar(g, "z", []int{tc.n, tc.k}, randSlice(rng, tc.n*tc.k, -tc.scale, tc.scale))
			lab := inputVar(g, "labels", []int{tc.n}, tc.labels)
			loss, err := layers.CrossEntropy(z.node, lab.node)
			if err != nil {
				t.Fatal(err)
			}
			if loss.Dims() != 0 {
				t.Fatalf("loss shape %v, want a scalar", loss.Shape())
			}
			// L = −(1/N)·Σ log softmax(z_n)[y_n] in float64.
			var want float64
			for r := 0; r < tc.n; r++ {
				row := z.data[r*tc.k : (r+1)*tc.k]
				m := math.Inf(-1)
				for _, v := range row {
					m = math.Max(m, float64(v))
				}
				var s float64
				for _, v := range row {
					s += math.Exp(float64(v) - m)
				}
				want += (m + math.Log(s) - float64(row[int(tc.labels[r])])) / float64(tc.n)
			}
			r, err := graphoptest.NewRunner(g.G, loss)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := r.Run()
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !graphoptest.Near(got, want, 1e-6, 1e-6) || math.IsNaN(got) {
				t.Errorf("loss %g, want %g", got, want)
			}
			if tc.scale < 10 {
				checkGrads(t, g, loss, z)
			}
		})
	}
}

func TestCrossEntropyErrors(t *testing.T) {
	tests := []struct {
		name   string
		logits []int
		labels []int
	}{
		{"labels count", []int{3, 4}, []int{2}},
		{"logits 1-D", []int{4}, []int{4}},
		{"logits 3-D", []int{2, 2, 2}, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := layers.NewGraph(true, nil)
			z, _ := g.Input("z", tc.logits...)
			y, _ := g.Input("y", tc.labels...)
			if _, err := layers.CrossEntropy(z, y); !isShapeErr(err) {
				t.Errorf("error %v, want ErrShape", err)
			}
		})
	}
	for _, bad := range []float32{-1, 3, 1.5, float32(math.NaN())} {
		g := layers.NewGraph(true, nil)
		z, _ := g.Input("z", 2, 3)
		y := inputVar(g, "y", []int{2}, []float32{0, bad})
		loss, err := layers.CrossEntropy(z, y.node)
		if err != nil {
			t.Fatal(err)
		}
		r, err := graphoptest.NewRunner(g.G, loss)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Run(); err == nil {
			t.Errorf("label %g: no error", bad)
		}
		r.Close()
	}
}
