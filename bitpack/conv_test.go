package bitpack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveConv is the float reference: Σ sign(x)·sign(w) over the window,
// with padded taps +1 (PadOne) or 0 (PadZero).
func naiveConv(x []float32, n, h, w, cin int, wt []float32, cout, kh, kw, sh, sw, ph, pw int, pad PadMode) ([]int32, int, int) {
	oh, ow := (h+2*ph-kh)/sh+1, (w+2*pw-kw)/sw+1
	out := make([]int32, n*oh*ow*cout)
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				for o := 0; o < cout; o++ {
					var s float64
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							iy, ix := y*sh-ph+ky, xx*sw-pw+kx
							for c := 0; c < cin; c++ {
								wv := float64(sgn(wt[((o*kh+ky)*kw+kx)*cin+c]))
								var xv float64
								if iy >= 0 && iy < h && ix >= 0 && ix < w {
									xv = float64(sgn(x[((b*h+iy)*w+ix)*cin+c]))
								} else if pad == PadOne {
									xv = 1
								}
								s += xv * wv
							}
						}
					}
					out[((b*oh+y)*ow+xx)*cout+o] = int32(s)
				}
			}
		}
	}
	return out, oh, ow
}

type convCase struct {
	n, h, w, cin, cout, kh, kw, sh, sw, ph, pw int
}

var convCases = []convCase{
	{1, 5, 5, 3, 4, 3, 3, 1, 1, 1, 1},
	{2, 7, 6, 64, 32, 3, 3, 1, 1, 1, 1},
	{1, 9, 8, 70, 37, 3, 3, 2, 2, 1, 1},
	{1, 6, 6, 130, 65, 3, 3, 1, 2, 0, 1},
	{1, 4, 5, 16, 8, 1, 1, 1, 1, 0, 0},
	{1, 7, 7, 33, 96, 5, 3, 1, 1, 2, 1},
	// maps with 4-pixel runs of windows inside the input (the implicit
	// GEMM's segmented tiles) beside border tiles
	{2, 12, 12, 65, 40, 3, 3, 1, 1, 1, 1},
	{1, 17, 16, 128, 64, 3, 3, 2, 2, 1, 1},
	{3, 9, 9, 64, 33, 3, 3, 1, 1, 0, 0},
}

func TestConv(t *testing.T) {
	defer splitSmall()() // the conv with Threads 2 really splits
	bothPaths(t, func(t *testing.T) {
		for i, cc := range convCases {
			for _, pad := range []PadMode{PadOne, PadZero} {
				t.Run(fmt.Sprintf("case%d/pad%d", i, pad), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(i), 7))
					x := randSigns(rng, cc.n*cc.h*cc.w*cc.cin)
					wt := randSigns(rng, cc.cout*cc.kh*cc.kw*cc.cin)
					want, oh, ow := naiveConv(x, cc.n, cc.h, cc.w, cc.cin, wt, cc.cout, cc.kh, cc.kw, cc.sh, cc.sw, cc.ph, cc.pw, pad)
					in, err := PackNHWC(x, cc.n, cc.h, cc.w, cc.cin)
					if err != nil {
						t.Fatal(err)
					}
					cw, err := PackConvWeights(wt, cc.cout, cc.kh, cc.kw, cc.cin)
					if err != nil {
						t.Fatal(err)
					}
					conv := &Conv{Weights: cw, StrideH: cc.sh, StrideW: cc.sw, PadH: cc.ph, PadW: cc.pw, Pad: pad, Threads: 1 + i%2}
					out := make([]int32, len(want))
					if err := conv.Forward(out, in); err != nil {
						t.Fatal(err)
					}
					for j := range out {
						if out[j] != want[j] {
							t.Fatalf("out[%d]=%d, want %d", j, out[j], want[j])
						}
					}
					// Fused threshold path against the float BN formula.
					bn := randBN(rng, cc.cout)
					th, err := FoldBN(bn)
					if err != nil {
						t.Fatal(err)
					}
					om := NewMap(cc.n, oh, ow, cc.cout)
					for k := range om.Data {
						om.Data[k] = ^uint64(0) // must be overwritten, padding bits cleared
					}
					for range 2 { // the second call reuses the cached border data
						if err := conv.ForwardSign(om, in, th); err != nil {
							t.Fatal(err)
						}
					}
					for p := 0; p < cc.n*oh*ow; p++ {
						for o := 0; o < cc.cout; o++ {
							y := bnEval(bn.Alpha[o], bn.Bias[o], bn.Gamma[o], bn.Beta[o], bn.Mean[o], bn.Var[o], bn.Eps, float64(want[p*cc.cout+o]))
							ws := 1
							if y < 0 {
								ws = -1
							}
							if got := om.At(0, 0, p, o); got != ws {
								t.Fatalf("pixel %d ch %d: sign %d, want %d (dot %d)", p, o, got, ws, want[p*cc.cout+o])
							}
						}
						for b := cc.cout; b < om.Words*64; b++ {
							if om.Data[p*om.Words+b/64]>>(uint(b)%64)&1 != 0 {
								t.Fatalf("pixel %d: padding bit %d set", p, b)
							}
						}
					}
				})
			}
		}
	})
}

// randBN draws BN parameters whose thresholds fall inside the dot range,
// with some negative gammas and alphas.
func randBN(rng *rand.Rand, n int) BNParams {
	p := BNParams{Eps: 1e-5}
	for i := 0; i < n; i++ {
		g := rng.Float32()*2 - 1
		p.Alpha = append(p.Alpha, rng.Float32()+0.05)
		if i%7 == 3 {
			p.Alpha[i] = -p.Alpha[i]
		}
		p.Bias = append(p.Bias, rng.Float32()-0.5)
		p.Gamma = append(p.Gamma, g)
		p.Beta = append(p.Beta, rng.Float32()-0.5)
		p.Mean = append(p.Mean, float32(rng.NormFloat64()*8))
		p.Var = append(p.Var, rng.Float32()*4+0.1)
	}
	return p
}

func TestFoldBN(t *testing.T) {
	// Exact boundaries: y(dot) = 0 exactly at an integer dot.
	cases := []struct {
		name                                    string
		alpha, bias, gamma, beta, mean, vr, eps float32
		at                                      int32 // y(at) == 0
	}{
		{"positive", 1, 0, 1, 0, 5, 1, 0, 5},
		{"negative gamma", 1, 0, -1, 0, 5, 1, 0, 5},
		{"negative alpha", -1, 0, 1, 0, 3, 1, 0, -3},
		{"half scale", 0.5, 0.25, 2, 0, 1.25, 4, 0, 2},
		{"beta shift", 1, 0, 0.5, 3, 0, 0.25, 0, -3},
		{"negative both", -0.25, 1, -4, 0, 0, 1, 0, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := BNParams{Alpha: []float32{c.alpha}, Bias: []float32{c.bias}, Gamma: []float32{c.gamma},
				Beta: []float32{c.beta}, Mean: []float32{c.mean}, Var: []float32{c.vr}, Eps: c.eps}
			if y := bnEval(c.alpha, c.bias, c.gamma, c.beta, c.mean, c.vr, c.eps, float64(c.at)); y != 0 {
				t.Fatalf("test case not at the boundary: y=%g", y)
			}
			th, err := FoldBN(p)
			if err != nil {
				t.Fatal(err)
			}
			if th.Sign(0, c.at) != 1 {
				t.Fatalf("y=0 at dot %d must give +1 (thr %d flip %v)", c.at, th.Thr[0], th.Flip[0])
			}
			for d := c.at - 50; d <= c.at+50; d++ {
				y := bnEval(c.alpha, c.bias, c.gamma, c.beta, c.mean, c.vr, c.eps, float64(d))
				want := 1
				if y < 0 {
					want = -1
				}
				if got := th.Sign(0, d); got != want {
					t.Fatalf("dot %d: %d, want %d", d, got, want)
				}
			}
		})
	}
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		p := randBN(rng, 500)
		p.Gamma[0], p.Alpha[1] = 0, 0 // constant channels
		p.Beta[1] = -1
		th, err := FoldBN(p)
		if err != nil {
			t.Fatal(err)
		}
		for c := range p.Gamma {
			if p.Gamma[c]*p.Alpha[c] < 0 != th.Flip[c] && p.Gamma[c]*p.Alpha[c] != 0 {
				t.Fatalf("channel %d: flip %v for scale %g", c, th.Flip[c], p.Gamma[c]*p.Alpha[c])
			}
			for d := int32(-300); d <= 300; d++ {
				y := bnEval(p.Alpha[c], p.Bias[c], p.Gamma[c], p.Beta[c], p.Mean[c], p.Var[c], p.Eps, float64(d))
				want := 1
				if y < 0 {
					want = -1
				}
				if got := th.Sign(c, d); got != want {
					t.Fatalf("channel %d dot %d: %d, want %d (thr %d)", c, d, got, want, th.Thr[c])
				}
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := FoldBN(BNParams{Gamma: []float32{1}, Beta: []float32{0}, Mean: []float32{0}, Var: []float32{-1}})
		if !errors.Is(err, ErrShape) {
			t.Fatalf("negative variance: err = %v", err)
		}
		_, err = FoldBN(BNParams{Gamma: []float32{1, 2}, Beta: []float32{0}, Mean: []float32{0}, Var: []float32{1}})
		if !errors.Is(err, ErrShape) {
			t.Fatalf("length mismatch: err = %v", err)
		}
		_, err = FoldBN(BNParams{Gamma: []float32{float32(math.NaN())}, Beta: []float32{0}, Mean: []float32{0}, Var: []float32{1}})
		if !errors.Is(err, ErrShape) {
			t.Fatalf("NaN: err = %v", err)
		}
	})
}

func TestConvShapeErrors(t *testing.T) {
	cw, _ := PackConvWeights(make([]float32, 4*3*3*8), 4, 3, 3, 8)
	in := NewMap(1, 5, 5, 8)
	cases := []struct {
		name string
		conv Conv
		in   *Map
		out  int
	}{
		{"channels", Conv{Weights: cw}, NewMap(1, 5, 5, 9), 100},
		{"too small", Conv{Weights: cw}, NewMap(1, 2, 2, 8), 100},
		{"short out", Conv{Weights: cw}, in, 35},
		{"no weights", Conv{}, in, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.conv.Forward(make([]int32, c.out), c.in); !errors.Is(err, ErrShape) {
				t.Fatalf("err = %v, want ErrShape", err)
			}
		})
	}
}
