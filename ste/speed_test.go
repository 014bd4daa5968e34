package ste

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
)

// The fast paths of the quantizers (node state reused from the forward pass,
// vector loops, parallel chunks) against the plain scalar code they replaced,
// bit for bit, over several training steps of one node whose tensor changes in
// place between steps. Sizes cross parallel.MinWork, so the chunked paths run.

// stepSizes are tensor sizes below and above parallel.MinWork.
var stepSizes = []int{7, 300, parallel.MinWork + 123}

// randWeights draws n values in ±2 with exact duplicates of the extremes.
func randWeights(rng *rand.Rand, n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.7)
	}
	if n > 3 {
		w[n-1], w[n/2] = 2.5, -2.5 // ties of max|w|
	}
	return w
}

// refDoReFaWeights is DoReFa's k>1 weight quantizer as written before the
// node state: tanh evaluated in every pass.
func refDoReFaWeights(levels float32, y, dst, g, w []float32) {
	var m float32
	for _, v := range w {
		m = max(m, abs(tanh32(v)))
	}
	for i, v := range w {
		y[i] = 2*quantizeK(tanh32(v)/(2*m)+0.5, levels) - 1
	}
	var gu float64
	ties := 0
	for i, v := range w {
		u := tanh32(v)
		gu += float64(g[i]) * float64(u)
		if abs(u) == m {
			ties++
		}
		dst[i] = g[i] * (1 - u*u) / m
	}
	shared := float32(gu) / (m * m) / float32(ties)
	for i, v := range w {
		if u := tanh32(v); abs(u) == m {
			dst[i] -= sign(u) * (1 - u*u) * shared
		}
	}
}

// sameBits reports bit-identical slices (NaNs of any payload equal).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestDoReFaWeightsState(t *testing.T) {
	for _, n := range stepSizes {
		rng := rand.New(rand.NewPCG(3, uint64(n)))
		f := dorefaWeights{levels: 3}
		c := Ctx{Rows: 1, State: f.NewState()}
		w := randWeights(rng, n)
		y, dst := make([]float32, n), make([]float32, n)
		wantY, wantD := make([]float32, n), make([]float32, n)
		for step := range 3 {
			g := randWeights(rng, n)
			if err := f.Forward(y, w, nil, c); err != nil {
				t.Fatal(err)
			}
			if err := f.Grad(0, dst, g, w, y, nil, c); err != nil {
				t.Fatal(err)
			}
			refDoReFaWeights(3, wantY, wantD, g, w)
			sameBits(t, "y", y, wantY)
			sameBits(t, "dw", dst, wantD)
			for i := range w { // the optimizer's in-place update
				w[i] -= 0.1 * g[i] * float32(step+1)
			}
		}
		// Without a state (a direct call), Grad computes tanh itself.
		g := randWeights(rng, n)
		if err := f.Grad(0, dst, g, w, nil, nil, Ctx{Rows: 1}); err != nil {
			t.Fatal(err)
		}
		refDoReFaWeights(3, wantY, wantD, g, w)
		sameBits(t, "dw without state", dst, wantD)
	}
}

// TestLevelsAndPACTLoops: DoReFa's input quantizer and PACT's forward pass
// equal their descriptor's scalar Apply; the gradients ∂x equal the old
// branches; PACT's ∂α equals a float64 sum to 1e-6 relative and does not
// depend on which gradient is asked first.
func TestLevelsAndPACTLoops(t *testing.T) {
	for _, n := range stepSizes {
		rng := rand.New(rand.NewPCG(5, uint64(n)))
		x := randWeights(rng, n)
		x[0], x[1] = 1, 0 // the closed bounds of 1{0 ≤ x ≤ 1}
		g := randWeights(rng, n)
		y, want := make([]float32, n), make([]float32, n)

		lv := levelsFunc{name: "dorefa", desc: qfunc.Levels(3), clipped: true}
		if err := lv.Forward(y, x, nil, Ctx{Rows: 1}); err != nil {
			t.Fatal(err)
		}
		lv.desc.Apply(want, x)
		sameBits(t, "levels y", y, want)
		if err := lv.Grad(0, y, g, x, nil, nil, Ctx{Rows: 1}); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			want[i] = 0
			if v >= 0 && v <= 1 {
				want[i] = g[i]
			}
		}
		sameBits(t, "levels dx", y, want)

		pf := &pactFunc{levels: 3, alpha: 1}
		a := x[2] // an activation exactly at α
		p := [][]float32{{a}}
		if err := pf.Forward(y, x, p, Ctx{Rows: 1}); err != nil {
			t.Fatal(err)
		}
		qfunc.Clipped(a, 3).Apply(want, x)
		sameBits(t, "pact y", y, want)
		var wantDA float64
		for i, v := range x {
			want[i] = 0
			if v >= 0 && v < a {
				want[i] = g[i]
			}
			if v >= a {
				wantDA += float64(g[i])
			}
		}
		var das []float32
		for _, order := range [][]int{{0, 1}, {1, 0}} {
			c := Ctx{Rows: 1, State: pf.NewState()}
			if err := pf.Forward(y, x, p, c); err != nil {
				t.Fatal(err)
			}
			da := []float32{0}
			for _, wrt := range order {
				d := y
				if wrt == 1 {
					d = da
				}
				if err := pf.Grad(wrt, d, g, x, nil, p, c); err != nil {
					t.Fatal(err)
				}
			}
			sameBits(t, "pact dx", y, want)
			das = append(das, da[0])
		}
		if das[0] != das[1] || math.Abs(float64(das[0])-wantDA) > 1e-6*(1+math.Abs(wantDA)) {
			t.Fatalf("n=%d: ∂α %v (both orders), want %g", n, das, wantDA)
		}
	}
}

// refDoReFaGradRow is DoReFa's gradient quantizer on one row, scalar: a
// fresh ChaCha8 per row seeds SplitMix64, each output two uniforms.
func refDoReFaGradRow(f *dorefaGradFunc, out, row []float32, call uint64, r int) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], f.seed)
	binary.LittleEndian.PutUint64(key[8:], call)
	binary.LittleEndian.PutUint64(key[16:], uint64(r))
	copy(key[24:], "dorefagq")
	rng := rand.NewChaCha8(key)
	m := maxAbs(row)
	if m == 0 {
		clear(out)
		return
	}
	inv, l := 1/(2*m), f.levels
	state := rng.Uint64()
	var z uint64
	for i, v := range row {
		if i%2 == 0 {
			z = splitMix64(&state)
		}
		u := float32(z>>40) * 0x1p-24
		if i%2 == 1 {
			u = float32(z>>16&0xFFFFFF) * 0x1p-24
		}
		q := clip(v*inv+0.5+(u-0.5)/l, 0, 1)
		out[i] = 2 * m * (quantizeK(q, l) - 0.5)
	}
}

func TestDoReFaGradRows(t *testing.T) {
	for _, tc := range []struct{ rows, n, row0 int }{{3, 5, 0}, {4, 300, 7}, {16, parallel.MinWork / 8, 2}} {
		rng := rand.New(rand.NewPCG(9, uint64(tc.n)))
		g := randWeights(rng, tc.rows*tc.n)
		clear(g[tc.n : 2*tc.n]) // an all-zero row
		f := &dorefaGradFunc{levels: 63, seed: 11}
		c := Ctx{Rows: tc.rows, Row0: tc.row0}
		got, want := make([]float32, len(g)), make([]float32, len(g))
		for call := range uint64(2) {
			if err := f.Grad(0, got, g, g, nil, nil, c); err != nil {
				t.Fatal(err)
			}
			for r := range tc.rows {
				refDoReFaGradRow(f, want[r*tc.n:(r+1)*tc.n], g[r*tc.n:(r+1)*tc.n], call, tc.row0+r)
			}
			sameBits(t, "quantized gradient", got, want)
		}
	}
}

// refTTQ is TTQ's forward pass and gradients as written before the branch-free loops.
func refTTQ(y, dw, g, w []float32, thr, wp, wn float32) (dp, dn float32) {
	var sp, sn float64
	for i, v := range w {
		switch {
		case v > thr:
			y[i], dw[i] = wp, wp*g[i]
			sp += float64(g[i])
		case v < -thr:
			y[i], dw[i] = -wn, wn*g[i]
			sn -= float64(g[i])
		default:
			y[i], dw[i] = 0, g[i]
		}
	}
	return float32(sp), float32(sn)
}

func TestTTQState(t *testing.T) {
	for _, n := range stepSizes {
		rng := rand.New(rand.NewPCG(13, uint64(n)))
		f := &ttqFunc{threshold: 0.05, wp: 1, wn: 1, weights: true}
		w := randWeights(rng, n)
		w[0] = f.threshold * 2.5 // exactly at Δ
		p := [][]float32{{0.8}, {1.3}}
		y, dw, wantY, wantDW := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
			c := Ctx{Rows: 1, State: f.NewState()}
			for step := range 2 {
				g := randWeights(rng, n)
				if err := f.Forward(y, w, p, c); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, 3)
				for _, wrt := range order {
					d := dw
					if wrt > 0 {
						d = got[wrt : wrt+1]
					}
					if err := f.Grad(wrt, d, g, w, y, p, c); err != nil {
						t.Fatal(err)
					}
				}
				dp, dn := refTTQ(wantY, wantDW, g, w, f.threshold*maxAbs(w), p[0][0], p[1][0])
				sameBits(t, "y", y, wantY)
				sameBits(t, "dw", dw, wantDW)
				sameBits(t, "dWp, dWn", got[1:], []float32{dp, dn})
				p[0][0] += 0.01 * float32(step+1)
			}
		}
	}
}

// refKMeans is k-means' forward pass and centroid gradient as written before
// the node state: a linear scan for the nearest centroid (ties to the lower index).
func refKMeans(y, dc, g, w, c []float32) {
	sum := make([]float64, len(c))
	for i, v := range w {
		best, bd := 0, math.Inf(1)
		for k, ck := range c {
			if d := math.Abs(float64(v) - float64(ck)); d < bd {
				best, bd = k, d
			}
		}
		y[i] = c[best]
		sum[best] += float64(g[i])
	}
	for k, s := range sum {
		dc[k] = float32(s)
	}
}

func TestKMeansState(t *testing.T) {
	for _, n := range stepSizes {
		rng := rand.New(rand.NewPCG(17, uint64(n)))
		w := randWeights(rng, n)
		f := &kmeansFunc{init: make([]float32, 16)}
		if err := linearCentroids(f.init, w); err != nil {
			t.Fatal(err)
		}
		p := [][]float32{append([]float32(nil), f.init...)}
		p[0][3] = p[0][5] // a duplicate centroid
		w[1] = (p[0][7] + p[0][8]) / 2
		st := Ctx{Rows: 1, State: f.NewState()}
		y, dc, wantY, wantDC := make([]float32, n), make([]float32, 16), make([]float32, n), make([]float32, 16)
		for step := range 3 {
			g := randWeights(rng, n)
			for _, c := range []Ctx{st, {Rows: 1}} {
				if err := f.Forward(y, w, p, c); err != nil {
					t.Fatal(err)
				}
				if err := f.Grad(1, dc, g, w, y, p, c); err != nil {
					t.Fatal(err)
				}
				refKMeans(wantY, wantDC, g, w, p[0])
				sameBits(t, "y", y, wantY)
				sameBits(t, "dc", dc, wantDC)
			}
			for i := range w {
				w[i] -= 0.05 * g[i]
			}
			p[0][0] -= 0.1 * float32(step)
		}
	}
}

// refTWN is TWN's forward pass over one group as written before the branch-free loops.
func refTWN(y, w []float32) {
	delta := 0.7 * meanAbs(w)
	var sum float64
	cnt := 0
	for _, v := range w {
		if a := abs(v); a > delta {
			sum += float64(a)
			cnt++
		}
	}
	alpha := float32(sum / float64(cnt))
	for i, v := range w {
		switch {
		case v > delta:
			y[i] = alpha
		case v < -delta:
			y[i] = -alpha
		default:
			y[i] = 0
		}
	}
}

func TestTWNLoops(t *testing.T) {
	for _, n := range stepSizes {
		rng := rand.New(rand.NewPCG(19, uint64(n)))
		w := randWeights(rng, n)
		y, want := make([]float32, n), make([]float32, n)
		if err := (twnFunc{weights: true}).Forward(y, w, nil, Ctx{Rows: 1}); err != nil {
			t.Fatal(err)
		}
		refTWN(want, w)
		sameBits(t, "y", y, want)
	}
}

// BenchmarkDoReFaGradRow times the gradient quantizer on one ResNet-20
// first-stage row (32×32×16 values), one thread.
func BenchmarkDoReFaGradRow(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	g := randWeights(rng, 32*32*16)
	out := make([]float32, len(g))
	f := &dorefaGradFunc{levels: 63, seed: 11}
	var gen rand.ChaCha8
	b.ReportAllocs()
	for b.Loop() {
		f.seedNoise(&gen, 0, 0)
		f.quantizeRow(out, g, &gen)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g)), "ns/value")
}
