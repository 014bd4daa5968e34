package layers_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// naiveDense is y[n][o] = b[o] + Σ_k x[n][k]·W[o][k] in float64.
func naiveDense(x, w, b []float32, n, k, o int) []float64 {
	y := make([]float64, n*o)
	for r := 0; r < n; r++ {
		for j := 0; j < o; j++ {
			var s float64
			if b != nil {
				s = float64(b[j])
			}
			for i := 0; i < k; i++ {
				s += float64(x[r*k+i]) * float64(w[j*k+i])
			}
			y[r*o+j] = s
		}
	}
	return y
}

var denseShapes = []struct {
	name   string
	in     []int // input shape, batch first
	out    int
	noBias bool
}{
	{"2x3->4", []int{2, 3}, 4, false},
	{"no bias", []int{3, 5}, 2, true},
	{"NHWC input", []int{2, 2, 3, 2}, 3, false},
	{"batch 1", []int{1, 7}, 5, false},
	{"wide", []int{5, 33}, 17, false},
}

func TestDenseForward(t *testing.T) {
	for _, tc := range denseShapes {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			k := 1
			for _, d := range tc.in[1:] {
				k *= d
			}
			l, err := layers.NewDense("fc", layers.DenseConfig{In: k, Out: tc.out, NoBias: tc.noBias}, rng)
			if err != nil {
				t.Fatal(err)
			}
			if (l.B == nil) != tc.noBias {
				t.Fatalf("bias %v, NoBias %v", l.B, tc.noBias)
			}
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", tc.in, randSlice(rng, tc.in[0]*k, -2, 2))
			y, err := l.Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			if got := y.Shape(); len(got) != 2 || got[0] != tc.in[0] || got[1] != tc.out {
				t.Fatalf("output shape %v, want [%d %d]", got, tc.in[0], tc.out)
			}
			var b []float32
			if l.B != nil {
				b = l.B.Data()
			}
			got := run(t, g, y)[0]
			assertClose(t, "y", got, naiveDense(x.data, l.W.Data(), b, tc.in[0], k, tc.out), 1e-5)
		})
	}
}

func TestDenseGrad(t *testing.T) {
	for _, tc := range denseShapes {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			k := 1
			for _, d := range tc.in[1:] {
				k *= d
			}
			l, err := layers.NewDense("fc", layers.DenseConfig{In: k, Out: tc.out, NoBias: tc.noBias}, rng)
			if err != nil {
				t.Fatal(err)
			}
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", tc.in, randSlice(rng, tc.in[0]*k, -2, 2))
			y, err := l.Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			vars := []variable{x, paramVar(g, l.W)}
			if l.B != nil {
				vars = append(vars, paramVar(g, l.B))
			}
			checkGrads(t, g, dotLoss(t, y, rng), vars...)
		})
	}
}

// TestDenseQuantizedGrad checks the chain through a weight quantizer: with XNOR
// weights, ∂L/∂W = (gᵀ·x)·α_o·1{|W| ≤ 1}; with sign inputs, ∂L/∂x = (g·q(W))·1{|x| ≤ 1}.
func TestDenseQuantizedGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, k, o = 3, 4, 2
	l, err := layers.NewDense("fc", layers.DenseConfig{In: k, Out: o, NoBias: true, Weights: ste.XNOR{}, Inputs: ste.Sign{}}, rng)
	if err != nil {
		t.Fatal(err)
	}
	copy(l.W.Data(), []float32{0.5, -1.5, 0.25, 0.75, -0.2, 0.4, 2, -0.6})
	if !l.W.Binary {
		t.Error("W.Binary is false for 1-bit weights")
	}
	if wq, iq := l.Quantizers(); wq != (ste.XNOR{}) || iq != (ste.Sign{}) {
		t.Errorf("Quantizers() = %v, %v", wq, iq)
	}
	g := layers.NewGraph(true, nil)
	xs := []float32{0.3, -2, 0.7, -0.1, 1.5, 0.2, -0.9, 0.6, -0.4, 0.8, 3, -1}
	x := inputVar(g, "x", []int{n, k}, xs)
	y, err := l.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	c := []float32{1, -2, 0.5, 3, -1, 2} // ∂L/∂y
	loss, err := dotLossWith(y, c)
	if err != nil {
		t.Fatal(err)
	}
	vals, grads := runGrads(t, g, loss, []variable{x, paramVar(g, l.W)}, y)
	// Expected values by hand.
	w := l.W.Data()
	alpha := []float64{(0.5 + 1.5 + 0.25 + 0.75) / 4, (0.2 + 0.4 + 2 + 0.6) / 4}
	qw := make([]float64, o*k)
	for j := 0; j < o; j++ {
		for i := 0; i < k; i++ {
			qw[j*k+i] = alpha[j] * math.Copysign(1, float64(w[j*k+i]))
		}
	}
	qx := make([]float64, n*k)
	for i, v := range xs {
		qx[i] = math.Copysign(1, float64(v))
	}
	wantY := make([]float64, n*o)
	wantDX := make([]float64, n*k)
	wantDW := make([]float64, o*k)
	for r := 0; r < n; r++ {
		for j := 0; j < o; j++ {
			gj := float64(c[r*o+j])
			for i := 0; i < k; i++ {
				wantY[r*o+j] += qx[r*k+i] * qw[j*k+i]
				if math.Abs(float64(xs[r*k+i])) <= 1 {
					wantDX[r*k+i] += gj * qw[j*k+i]
				}
				if math.Abs(float64(w[j*k+i])) <= 1 {
					wantDW[j*k+i] += gj * qx[r*k+i] * alpha[j]
				}
			}
		}
	}
	assertClose(t, "y", vals[0], wantY, 1e-6)
	assertClose(t, "∂L/∂x", grads[0], wantDX, 1e-6)
	assertClose(t, "∂L/∂W", grads[1], wantDW, 1e-6)
}

func TestDenseErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, cfg := range []layers.DenseConfig{{In: 0, Out: 2}, {In: 3, Out: -1}} {
		if _, err := layers.NewDense("fc", cfg, rng); !errors.Is(err, layers.ErrShape) {
			t.Errorf("NewDense(%+v) error %v, want ErrShape", cfg, err)
		}
	}
	if _, err := layers.NewDense("fc", layers.DenseConfig{In: 3, Out: 2, Weights: ste.LSQ{Bits: 1}}, rng); err == nil {
		t.Error("NewDense with 1-bit signed LSQ weights: no error")
	}
	l, err := layers.NewDense("fc", layers.DenseConfig{In: 6, Out: 2}, rng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.OutShape([]int{5}); !errors.Is(err, layers.ErrShape) {
		t.Errorf("OutShape([5]) error %v, want ErrShape", err)
	}
	if s, err := l.OutShape([]int{2, 3}); err != nil || len(s) != 1 || s[0] != 2 {
		t.Errorf("OutShape([2 3]) = %v, %v", s, err)
	}
	for _, shape := range [][]int{{4, 5}, {4, 2, 2}, {6}} {
		g := layers.NewGraph(true, nil)
		x, _ := g.Input("x", shape...)
		if _, err := l.Forward(g, x); !errors.Is(err, layers.ErrShape) {
			t.Errorf("Forward on %v: error %v, want ErrShape", shape, err)
		}
	}
}
