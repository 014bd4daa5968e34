package layers_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// naiveConv is the direct NHWC/OHWI convolution in float64:
//
//	y[n][i][j][o] = b[o] + Σ_{u,v,c} x[n][i·s+u−p][j·s+v−p][c]·W[o][u][v][c]
//
// with zeros outside the input.
func naiveConv(x, w, b []float32, n, h, wd, c, o, k, s, p int) ([]float64, int, int) {
	oh, ow := (h+2*p-k)/s+1, (wd+2*p-k)/s+1
	y := make([]float64, n*oh*ow*o)
	for b0 := 0; b0 < n; b0++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for oc := 0; oc < o; oc++ {
					var sum float64
					if b != nil {
						sum = float64(b[oc])
					}
					for u := 0; u < k; u++ {
						for v := 0; v < k; v++ {
							r, q := i*s+u-p, j*s+v-p
							if r < 0 || r >= h || q < 0 || q >= wd {
								continue
							}
							for ch := 0; ch < c; ch++ {
								sum += float64(x[((b0*h+r)*wd+q)*c+ch]) * float64(w[((oc*k+u)*k+v)*c+ch])
							}
						}
					}
					y[((b0*oh+i)*ow+j)*o+oc] = sum
				}
			}
		}
	}
	return y, oh, ow
}

type convCase struct {
	n, h, w, c, o, k, stride, pad int
	noBias                        bool
}

func (c convCase) String() string {
	b := "bias"
	if c.noBias {
		b = "nobias"
	}
	return fmt.Sprintf("n%d_%dx%dx%d_o%d_k%d_s%d_p%d_%s", c.n, c.h, c.w, c.c, c.o, c.k, c.stride, c.pad, b)
}

var convCases = []convCase{
	{n: 2, h: 5, w: 4, c: 2, o: 3, k: 3, stride: 1, pad: 0},
	{n: 2, h: 5, w: 4, c: 2, o: 3, k: 3, stride: 1, pad: 1},
	{n: 2, h: 5, w: 5, c: 2, o: 3, k: 3, stride: 2, pad: 0},
	{n: 1, h: 6, w: 5, c: 3, o: 2, k: 3, stride: 2, pad: 1},
	{n: 2, h: 4, w: 4, c: 2, o: 3, k: 3, stride: 1, pad: 1, noBias: true},
	{n: 2, h: 5, w: 4, c: 2, o: 2, k: 3, stride: 2, pad: 1, noBias: true},
	{n: 2, h: 3, w: 4, c: 3, o: 2, k: 1, stride: 1, pad: 0}, // pointwise: im2col is the input
	{n: 2, h: 4, w: 4, c: 2, o: 2, k: 1, stride: 2, pad: 0},
	{n: 1, h: 4, w: 5, c: 1, o: 2, k: 2, stride: 2, pad: 1},
	{n: 2, h: 6, w: 5, c: 3, o: 4, k: 5, stride: 1, pad: 2}, // input gradient as a flipped-filter conv
	{n: 1, h: 3, w: 3, c: 2, o: 2, k: 1, stride: 1, pad: 1}, // pad > k-1: input gradient through col2im
}

func newConv(t *testing.T, cc convCase, rng *rand.Rand, wq, iq ste.Quantizer) *layers.Conv2D {
	t.Helper()
	l, err := layers.NewConv2D("conv", layers.Conv2DConfig{In: cc.c, Out: cc.o, Kernel: cc.k, Stride: cc.stride, Pad: cc.pad, NoBias: cc.noBias, Weights: wq, Inputs: iq}, rng)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConv2DForward(t *testing.T) {
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			l := newConv(t, cc, rng, nil, nil)
			if got := l.W.Value.Shape(); got[0] != cc.o || got[1] != cc.k || got[2] != cc.k || got[3] != cc.c {
				t.Fatalf("W shape %v, want OHWI [%d %d %d %d]", got, cc.o, cc.k, cc.k, cc.c)
			}
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", []int{cc.n, cc.h, cc.w, cc.c}, randSlice(rng, cc.n*cc.h*cc.w*cc.c, -2, 2))
			y, err := l.Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			var b []float32
			if l.B != nil {
				b = l.B.Data()
			}
			want, oh, ow := naiveConv(x.data, l.W.Data(), b, cc.n, cc.h, cc.w, cc.c, cc.o, cc.k, cc.stride, cc.pad)
			if s := y.Shape(); s[0] != cc.n || s[1] != oh || s[2] != ow || s[3] != cc.o {
				t.Fatalf("output shape %v, want [%d %d %d %d]", s, cc.n, oh, ow, cc.o)
			}
			if s, err := l.OutShape([]int{cc.h, cc.w, cc.c}); err != nil || s[0] != oh || s[1] != ow || s[2] != cc.o {
				t.Errorf("OutShape = %v, %v; want [%d %d %d]", s, err, oh, ow, cc.o)
			}
			assertClose(t, "y", run(t, g, y)[0], want, 1e-5)
		})
	}
}

func TestConv2DGrad(t *testing.T) {
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 14))
			l := newConv(t, cc, rng, nil, nil)
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", []int{cc.n, cc.h, cc.w, cc.c}, randSlice(rng, cc.n*cc.h*cc.w*cc.c, -2, 2))
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

// TestConv2DRepeatedRuns changes the input between runs: the weight gradient
// must use the current batch, never one remembered from an earlier run.
func TestConv2DRepeatedRuns(t *testing.T) {
	cc := convCase{n: 2, h: 4, w: 4, c: 2, o: 2, k: 3, stride: 1, pad: 1}
	rng := rand.New(rand.NewPCG(15, 16))
	l := newConv(t, cc, rng, nil, nil)
	g := layers.NewGraph(true, nil)
	x := inputVar(g, "x", []int{cc.n, cc.h, cc.w, cc.c}, randSlice(rng, cc.n*cc.h*cc.w*cc.c, -2, 2))
	y, err := l.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	loss := dotLoss(t, y, rng)
	for i := 0; i < 3; i++ {
		copy(x.data, randSlice(rng, len(x.data), -2, 2))
		checkGrads(t, g, loss, paramVar(g, l.W), x)
	}
}

// TestConv2DQuantizedInputs runs a conv with an input quantizer (built on first
// sight of the map size) and sign weights, and compares with the naive conv of
// the quantized tensors.
func TestConv2DQuantizedInputs(t *testing.T) {
	cc := convCase{n: 2, h: 4, w: 3, c: 2, o: 3, k: 3, stride: 1, pad: 1}
	rng := rand.New(rand.NewPCG(17, 18))
	l := newConv(t, cc, rng, ste.DoReFa{Bits: 1}, ste.DoReFa{Bits: 2})
	if !l.W.Binary {
		t.Error("W.Binary is false for 1-bit weights")
	}
	g := layers.NewGraph(true, nil)
	x := inputVar(g, "x", []int{cc.n, cc.h, cc.w, cc.c}, randSlice(rng, cc.n*cc.h*cc.w*cc.c, -0.5, 1.5))
	y, err := l.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	var e float64
	for _, v := range l.W.Data() {
		e += abs64(v)
	}
	e /= float64(len(l.W.Data()))
	qw := make([]float32, len(l.W.Data()))
	for i, v := range l.W.Data() {
		qw[i] = float32(e)
		if v < 0 {
			qw[i] = -float32(e)
		}
	}
	qx := make([]float32, len(x.data))
	for i, v := range x.data {
		qx[i] = float32(roundHalfEven(float64(min(max(v, 0), 1))*3) / 3)
	}
	want, _, _ := naiveConv(qx, qw, l.B.Data(), cc.n, cc.h, cc.w, cc.c, cc.o, cc.k, cc.stride, cc.pad)
	assertClose(t, "y", run(t, g, y)[0], want, 1e-5)
}

func TestConv2DErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, cfg := range []layers.Conv2DConfig{
		{In: 0, Out: 2, Kernel: 3},
		{In: 2, Out: 2, Kernel: 0},
		{In: 2, Out: 2, Kernel: 3, Stride: -1},
		{In: 2, Out: 2, Kernel: 3, Pad: -1},
	} {
		if _, err := layers.NewConv2D("conv", cfg, rng); !errors.Is(err, layers.ErrShape) {
			t.Errorf("NewConv2D(%+v) error %v, want ErrShape", cfg, err)
		}
	}
	for _, iq := range []ste.Quantizer{nil, ste.Sign{}} {
		l, err := layers.NewConv2D("conv", layers.Conv2DConfig{In: 2, Out: 3, Kernel: 3, Inputs: iq}, rng)
		if err != nil {
			t.Fatal(err)
		}
		for _, shape := range [][]int{
			{1, 5, 5, 3}, // wrong channels
			{1, 2, 5, 2}, // smaller than the kernel
			{1, 25, 2},   // not NHWC
			{4, 50},
		} {
			if _, err := l.OutShape(shape[1:]); !errors.Is(err, layers.ErrShape) {
				t.Errorf("inputs %v: OutShape(%v) error %v, want ErrShape", iq, shape[1:], err)
			}
			g := layers.NewGraph(true, nil)
			x, _ := g.Input("x", shape...)
			if _, err := l.Forward(g, x); !errors.Is(err, layers.ErrShape) {
				t.Errorf("inputs %v: Forward on %v: error %v, want ErrShape", iq, shape, err)
			}
		}
	}
}
