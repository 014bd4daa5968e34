package layers_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/layers"
)

// naivePool returns the pooled map and the gradient that g [n][oh][ow][c] sends
// back to x: max pooling routes each output's gradient to the first maximum of its
// window in row-major window order; average pooling spreads it evenly.
func naivePool(isMax bool, x, g []float32, n, h, w, c, kh, kw, st int) (y, dx []float64) {
	oh, ow := (h-kh)/st+1, (w-kw)/st+1
	y = make([]float64, n*oh*ow*c)
	dx = make([]float64, len(x))
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for ch := 0; ch < c; ch++ {
					o := ((b*oh+i)*ow+j)*c + ch
					best, arg, sum := float32(0), -1, 0.0
					for di := 0; di < kh; di++ {
						for dj := 0; dj < kw; dj++ {
							src := ((b*h+i*st+di)*w+j*st+dj)*c + ch
							sum += float64(x[src])
							if arg < 0 || x[src] > best {
								best, arg = x[src], src
							}
						}
					}
					if isMax {
						y[o] = float64(best)
						if g != nil {
							dx[arg] += float64(g[o])
						}
						continue
					}
					y[o] = sum / float64(kh*kw)
					if g == nil {
						continue
					}
					for di := 0; di < kh; di++ {
						for dj := 0; dj < kw; dj++ {
							dx[((b*h+i*st+di)*w+j*st+dj)*c+ch] += float64(g[o]) / float64(kh*kw)
						}
					}
				}
			}
		}
	}
	return y, dx
}

// distinct returns n values that differ pairwise by at least 0.05, shuffled, so
// that a central difference with h = 1e-2 does not cross a max-pool tie.
func distinct(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i, p := range rng.Perm(n) {
		out[i] = float32(p)*0.05 - float32(n)*0.025
	}
	return out
}

type poolCase struct {
	isMax        bool
	size, stride int
	global       bool
	shape        []int // NHWC
}

func (p poolCase) String() string {
	kind := "avg"
	if p.isMax {
		kind = "max"
	}
	if p.global {
		return fmt.Sprintf("%s_global_%v", kind, p.shape)
	}
	return fmt.Sprintf("%s_%d_s%d_%v", kind, p.size, p.stride, p.shape)
}

func (p poolCase) layer() *layers.Pool {
	cfg := layers.PoolConfig{Size: p.size, Stride: p.stride, Global: p.global}
	if p.isMax {
		return layers.MaxPool("pool", cfg)
	}
	return layers.AvgPool("pool", cfg)
}

func (p poolCase) window() (kh, kw, st int) {
	if p.global {
		return p.shape[1], p.shape[2], 1
	}
	st = p.stride
	if st == 0 {
		st = p.size
	}
	return p.size, p.size, st
}

var poolCases = []poolCase{
	{isMax: true, size: 2, shape: []int{2, 4, 4, 3}},
	{isMax: true, size: 2, stride: 2, shape: []int{1, 5, 5, 2}}, // odd size: the last row and column are dropped
	{isMax: true, size: 3, stride: 2, shape: []int{2, 5, 5, 2}}, // overlapping windows
	{isMax: true, size: 3, stride: 1, shape: []int{1, 4, 5, 2}},
	{isMax: true, size: 2, stride: 3, shape: []int{2, 8, 7, 3}}, // gaps between windows
	{isMax: false, size: 2, stride: 3, shape: []int{2, 8, 7, 3}},
	{isMax: false, size: 2, shape: []int{2, 4, 4, 3}},
	{isMax: false, size: 3, stride: 2, shape: []int{2, 5, 5, 2}},
	{isMax: false, size: 2, stride: 1, shape: []int{1, 3, 4, 2}},
	{isMax: false, global: true, shape: []int{2, 3, 4, 3}},
}

func TestPool(t *testing.T) {
	large := []poolCase{ // big enough for the parallel paths
		{isMax: true, size: 2, shape: []int{16, 32, 32, 8}},
		{isMax: false, size: 2, shape: []int{16, 32, 32, 8}},
		{isMax: true, size: 3, stride: 2, shape: []int{8, 33, 33, 8}},
		{isMax: true, size: 2, stride: 3, shape: []int{16, 35, 34, 8}},
		{isMax: false, global: true, shape: []int{16, 16, 16, 16}},
	}
	for _, pc := range append(poolCases, large...) {
		t.Run(pc.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(31, 32))
			n, h, w, c := pc.shape[0], pc.shape[1], pc.shape[2], pc.shape[3]
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", pc.shape, randSlice(rng, n*h*w*c, -2, 2))
			if pc.isMax {
				// Ties, where the gradient must go to the first maximum only.
				for i := range x.data {
					x.data[i] = float32(int(x.data[i] * 2))
				}
			}
			y, err := pc.layer().Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			kh, kw, st := pc.window()
			gy := randSlice(rng, y.Shape().TotalSize(), -1, 1)
			loss, err := dotLossWith(y, gy)
			if err != nil {
				t.Fatal(err)
			}
			vals, grads := runGrads(t, g, loss, []variable{x}, y)
			wantY, wantDX := naivePool(pc.isMax, x.data, gy, n, h, w, c, kh, kw, st)
			oh, ow := (h-kh)/st+1, (w-kw)/st+1
			if s := y.Shape(); s[0] != n || s[1] != oh || s[2] != ow || s[3] != c {
				t.Fatalf("output shape %v, want [%d %d %d %d]", s, n, oh, ow, c)
			}
			assertClose(t, "y", vals[0], wantY, 1e-6)
			assertClose(t, "∂L/∂x", grads[0], wantDX, 1e-5)
		})
	}
}

func TestPoolGrad(t *testing.T) {
	for _, pc := range poolCases {
		t.Run(pc.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(33, 34))
			n, h, w, c := pc.shape[0], pc.shape[1], pc.shape[2], pc.shape[3]
			g := layers.NewGraph(true, nil)
			x := inputVar(g, "x", pc.shape, distinct(rng, n*h*w*c))
			y, err := pc.layer().Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			checkGrads(t, g, dotLoss(t, y, rng), x)
		})
	}
}

func TestPoolErrors(t *testing.T) {
	tests := []struct {
		name  string
		l     *layers.Pool
		shape []int
	}{
		{"not NHWC", layers.MaxPool("p", layers.PoolConfig{}), []int{2, 8}},
		{"window too large", layers.MaxPool("p", layers.PoolConfig{Size: 3}), []int{1, 2, 5, 1}},
		{"global max", layers.MaxPool("p", layers.PoolConfig{Global: true}), []int{1, 4, 4, 1}},
		{"avg not NHWC", layers.AvgPool("p", layers.PoolConfig{}), []int{2, 4, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.l.OutShape(tc.shape[1:]); !errors.Is(err, layers.ErrShape) {
				t.Errorf("OutShape(%v) error %v, want ErrShape", tc.shape[1:], err)
			}
			g := layers.NewGraph(true, nil)
			x, _ := g.Input("x", tc.shape...)
			if _, err := tc.l.Forward(g, x); !errors.Is(err, layers.ErrShape) {
				t.Errorf("Forward on %v: error %v, want ErrShape", tc.shape, err)
			}
		})
	}
}
