package ste_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

// dorefaSmooth is the smooth map the k>1 weight gradient differentiates,
// w ↦ Σ_i c_i·tanh(w_i)/max_j|tanh(w_j)| (2·quantize_k(r)−1 with round replaced by
// the identity), in float64.
func dorefaSmooth(w []float64, c []float32) float64 {
	var m float64
	for _, v := range w {
		m = math.Max(m, math.Abs(math.Tanh(v)))
	}
	var s float64
	for i, v := range w {
		s += float64(c[i]) * math.Tanh(v) / m
	}
	return s
}

// dorefaGradByHand is the gradient of dorefaSmooth with u = tanh(w), M = max|u|:
//
//	∂/∂w_i = c_i·(1−u_i²)/M − [i ∈ argmax]/|argmax|·sign(u_i)·(1−u_i²)·Σ_j c_j·u_j/M².
func dorefaGradByHand(w, c []float32) []float32 {
	u := make([]float64, len(w))
	var m, cu float64
	for i, v := range w {
		u[i] = math.Tanh(float64(v))
		m = math.Max(m, math.Abs(u[i]))
		cu += float64(c[i]) * u[i]
	}
	ties := 0
	for _, v := range u {
		if math.Abs(v) == m {
			ties++
		}
	}
	out := make([]float32, len(w))
	for i, v := range u {
		d := float64(c[i]) * (1 - v*v) / m
		if math.Abs(v) == m {
			d -= math.Copysign(1, v) * (1 - v*v) * cu / (m * m) / float64(ties)
		}
		out[i] = float32(d)
	}
	return out
}

func TestDoReFa(t *testing.T) {
	w2 := []float32{0, 0.3, -1, 2, -0.2, 1.5}
	c2 := []float32{1, -2, 0.5, 3, -1, 2}
	tests := []gradCase{
		// Weights, k=1: sign(w)·E, E = mean|w| over the layer = (0.5+1.5+0+2)/4 = 1; identity STE.
		{name: "weights k=1", q: ste.DoReFa{Bits: 1}, role: ste.Weights, shape: []int{2, 2},
			x: []float32{0.5, -1.5, 0, 2}, wantY: []float32{1, -1, 1, 1},
			g: []float32{1, -2, 3, -4}, wantDX: []float32{1, -2, 3, -4}},
		{name: "weights default is k=1", q: ste.DoReFa{}, role: ste.Weights, shape: []int{2, 2},
			x: []float32{-0.25, 0.75, 0.5, -0.5}, wantY: []float32{-0.5, 0.5, 0.5, -0.5},
			g: []float32{1, 2, 3, 4}, wantDX: []float32{1, 2, 3, 4}},
		// Weights, k=2: M = tanh(2); r = tanh(w)/(2M)+½; q = 2·round(3r)/3 − 1.
		// w=0: r=½, 3r=1.5 rounds (half to even) to 2, q=⅓. w=0.3: 3r≈1.95 → ⅓.
		// w=−1: 3r≈0.31 → −1. w=2: r=1 → 1. w=−0.2: 3r≈1.19 → −⅓. w=1.5: 3r≈2.91 → 1.
		{name: "weights k=2", q: ste.DoReFa{Bits: 2}, role: ste.Weights, shape: []int{2, 3},
			x: w2, wantY: []float32{1. / 3, 1. / 3, -1, 1, -1. / 3, 1},
			g: c2, wantDX: dorefaGradByHand(w2, c2)},
		// Inputs: quantize_k(clip(x,0,1)), gradient 1{0 ≤ x ≤ 1}; default k = 2.
		{name: "inputs default k=2", q: ste.DoReFa{}, role: ste.Inputs, shape: []int{2, 4},
			x:     []float32{-0.5, 0, 0.25, 0.5, 0.75, 1, 1.5, 0.1},
			wantY: []float32{0, 0, 1. / 3, 2. / 3, 2. / 3, 1, 1, 0},
			g:     []float32{1, 2, 3, 4, 5, 6, 7, 8}, wantDX: []float32{0, 2, 3, 4, 5, 6, 0, 8}},
		{name: "inputs k=1", q: ste.DoReFa{Bits: 1}, role: ste.Inputs, shape: []int{1, 4},
			x: []float32{-0.1, 0.5, 0.6, 1.1}, wantY: []float32{0, 0, 1, 1},
			g: []float32{1, 1, 1, 1}, wantDX: []float32{0, 1, 1, 0}},
		// k = 32 is full precision.
		{name: "weights k=32", q: ste.DoReFa{Bits: 32}, role: ste.Weights, shape: []int{1, 3},
			x: []float32{-3, 0.123, 7}, wantY: []float32{-3, 0.123, 7},
			g: []float32{1, 2, 3}, wantDX: []float32{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestDoReFaWeightGradCentral checks the k>1 weight gradient against central
// differences of the smooth map w ↦ Σ c·tanh(w)/max|tanh(w)|, max term included.
func TestDoReFaWeightGradCentral(t *testing.T) {
	tests := []struct {
		name string
		w, c []float32
		dir  []float32 // nil: every coordinate; else one directional derivative
	}{
		{name: "positive max", w: []float32{0.1, -0.7, 1.3, 0.4, -0.2, 0.9}, c: []float32{1, -2, 0.5, 3, -1, 2}},
		{name: "negative max", w: []float32{0.1, -1.7, 1.3, 0.4, -0.2, 0.9}, c: []float32{1, -2, 0.5, 3, -1, 2}},
		{name: "max carries most weight", w: []float32{2, 0.5, -0.5, 0.25}, c: []float32{3, 0.1, -0.1, 0.2}},
		// Two tied maxima: the max is smooth along the direction that moves both
		// |tanh| together, and the shared gradient must give its derivative there.
		{name: "tied maxima", w: []float32{1.2, -1.2, 0.3, -0.6}, c: []float32{1, 2, -1, 0.5}, dir: []float32{1, -1, 0, 0}},
	}
	for _, tc := range tests {
		for _, k := range []int{2, 3, 8} {
			t.Run(tc.name+"/k="+strconv.Itoa(k), func(t *testing.T) {
				f, err := ste.DoReFa{Bits: k}.Build(ste.Target{Shape: []int{2, len(tc.w) / 2}, Role: ste.Weights, Init: tc.w})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, len(tc.w))
				if err := f.Grad(0, got, tc.c, tc.w, nil, nil, ste.Ctx{Rows: 2}); err != nil {
					t.Fatal(err)
				}
				const h = 1e-5
				w := make([]float64, len(tc.w))
				at := func(d []float64) float64 {
					p := make([]float64, len(w))
					for i := range p {
						p[i] = w[i] + d[i]
					}
					return dorefaSmooth(p, tc.c)
				}
				for i, v := range tc.w {
					w[i] = float64(v)
				}
				dirs := [][]float64{}
				if tc.dir == nil {
					for i := range w {
						d := make([]float64, len(w))
						d[i] = 1
						dirs = append(dirs, d)
					}
				} else {
					d := make([]float64, len(w))
					for i, v := range tc.dir {
						d[i] = float64(v)
					}
					dirs = append(dirs, d)
				}
				for _, d := range dirs {
					plus, minus := make([]float64, len(d)), make([]float64, len(d))
					var want, have float64
					for i := range d {
						plus[i], minus[i] = h*d[i], -h*d[i]
						have += float64(got[i]) * d[i]
					}
					want = (at(plus) - at(minus)) / (2 * h)
					// float32 gradient against a float64 reference: 1e-4 relative.
					if math.Abs(have-want) > 1e-4*math.Max(1, math.Abs(want)) {
						t.Errorf("directional derivative along %v: Grad gives %.6f, central difference %.6f", d, have, want)
					}
				}
			})
		}
	}
}
