package bitpack

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/internal/qfunc"
)

// naiveFloat is the float layer in float64: Σ q(x)·w + bias, zero padding,
// with Σ|q(x)·w| per output for the error bound.
func naiveFloat(c layerCase, ls LayerSpec, x []float32) (out, mag []float64) {
	xq := make([]float32, len(x))
	ls.Input.Quantize(xq, x)
	w := ls.Weights.Float
	h, wd, cin, k, st, pad := c.h, c.w, c.cin, c.k, c.stride, c.pad
	if c.dense {
		h, wd, cin, k, st, pad = 1, 1, c.h*c.w*c.cin, 1, 1, 0
	}
	oh, ow := (h+2*pad-k)/st+1, (wd+2*pad-k)/st+1
	kk := k * k * cin
	for b := 0; b < c.n; b++ {
		for y := 0; y < oh; y++ {
			for x0 := 0; x0 < ow; x0++ {
				for o := 0; o < c.cout; o++ {
					var s, m float64
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := y*st-pad+ky, x0*st-pad+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							for ci := 0; ci < cin; ci++ {
								p := float64(xq[((b*h+iy)*wd+ix)*cin+ci]) * float64(w[o*kk+(ky*k+kx)*cin+ci])
								s, m = s+p, m+math.Abs(p)
							}
						}
					}
					if ls.Bias != nil {
						s += float64(ls.Bias[o])
						m += math.Abs(float64(ls.Bias[o]))
					}
					out, mag = append(out, s), append(mag, m)
				}
			}
		}
	}
	return out, mag
}

// TestEngineFloatPaths: float layers (7×7 stride 2, k past the k block,
// partial panels, pointwise on prepacked weights, dense at batch 1, 4 and
// 5 over one or several column blocks) match a float64 reference within
// float32 rounding and equal the training graph's kernels bit for bit at 1
// and 2 threads.
func TestEngineFloatPaths(t *testing.T) {
	none, lsq := InputQuant{}, InputQuant(qfunc.Step(0.11, -8, 7))
	cases := []layerCase{
		{h: 20, w: 18, cin: 3, cout: 64, k: 7, stride: 2, pad: 3, n: 2, q: none, bias: true},
		{h: 9, w: 7, cin: 100, cout: 70, k: 3, stride: 1, pad: 1, n: 3, q: lsq},
		{h: 6, w: 6, cin: 64, cout: 130, k: 1, stride: 2, pad: 0, n: 1, q: none},
		{h: 7, w: 7, cin: 256, cout: 130, k: 1, stride: 1, pad: 0, n: 1, q: none},
		{h: 5, w: 4, cin: 300, cout: 40, k: 1, stride: 1, pad: 0, n: 3, q: lsq, bias: true},
		{dense: true, h: 1, w: 1, cin: 512, cout: 1000, n: 1, q: none, bias: true},
		{dense: true, h: 2, w: 3, cin: 200, cout: 10, n: 5, q: lsq, bias: true},
		{dense: true, h: 1, w: 1, cin: 300, cout: 260, n: 4, q: none}, // three column blocks at batch 4
	}
	for i, c := range cases {
		c.kernel, c.wenc = KernelFloat, WeightsF32
		if c.dense {
			c.k, c.stride = 1, 1
		}
		t.Run(c.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			s := c.spec(rng)
			m, err := NewModel(s)
			if err != nil {
				t.Fatal(err)
			}
			x := randF(rng, c.n*c.h*c.w*c.cin, 1)
			ref, mag := naiveFloat(c, s.Layers[0], x)
			for _, th := range []int{1, 2} {
				got := predictThreads(t, m, x, c.n, th)
				for j, v := range ref {
					if d := math.Abs(float64(got[j]) - v); d > 1e-6*mag[j]+1e-30 {
						t.Fatalf("threads %d: out[%d] = %g, want %g (Σ|x·w| %g)", th, j, got[j], v, mag[j])
					}
				}
				prev := runtime.GOMAXPROCS(th) // the same settings as the Predict call
				checkGraphKernels(t, m, x, c.n, got)
				runtime.GOMAXPROCS(prev)
			}
		})
	}
}

func predictThreads(t *testing.T, m *Model, x []float32, n, threads int) []float32 {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	y, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// checkGraphKernels: the engine's float layer equals, bit for bit, the
// functions the training graph's evaluation forward calls (gemm.ConvForward
// for a convolution, gemm.Sgemm for a dense or pointwise layer, then the
// bias), so exported models keep the graph's float sums.
func checkGraphKernels(t *testing.T, m *Model, x []float32, n int, got []float32) {
	t.Helper()
	l := m.layers[0].(*linear)
	xq := make([]float32, len(x))
	l.q.Quantize(xq, x)
	rows := n * l.oh * l.ow
	want := make([]float32, rows*l.cout)
	var err error
	switch {
	case l.dense: // the graph's call, on [cout][k] as the spec holds them
		w := m.spec.Layers[0].Weights.Dequantize(l.cout, l.k)
		err = gemm.Sgemm(false, true, rows, l.cout, l.k, 1, xq, l.k, w, l.k, 0, want, l.cout)
	case l.pointwise():
		err = gemm.Sgemm(false, true, rows, l.cout, l.k, 1, xq, l.k, l.wf, l.k, 0, want, l.cout)
	default:
		err = gemm.ConvForward(l.convShape(n), xq, l.wf, l.cout, want)
	}
	if err != nil {
		t.Fatal(err)
	}
	l.addBias(want, rows)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("out[%d] = %g, the graph's kernels give %g", i, got[i], want[i])
		}
	}
}
