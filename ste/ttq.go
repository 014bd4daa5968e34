package ste

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/lowbit/lowbit/internal/parallel"
)

// TTQ is Trained Ternary Quantization (Zhu et al. 2017, https://arxiv.org/abs/1612.01064),
// following the authors' tensorpack ternarize (tw_ternarize) with two learnable positive
// scalars W_p and W_n per layer:
//
//	Δ = Threshold·max|w| over the layer     (i.e. w̃ = w/max|w| against Threshold)
//	q(w_i) = +W_p if w_i > Δ,  0 if |w_i| ≤ Δ,  −W_n if w_i < −Δ
//	∂L/∂w_i  = W_p·g_i (w_i > Δ),  g_i (|w_i| ≤ Δ),  W_n·g_i (w_i < −Δ)
//	∂L/∂W_p  = Σ_{w_i > Δ} g_i
//	∂L/∂W_n  = −Σ_{w_i < −Δ} g_i            (q = −W_n there, so ∂q/∂W_n = −1)
//
// The paper writes ∂L/∂W_n as a plain sum because it treats the negative value as the
// parameter; here W_n is the positive magnitude, as in tensorpack, whose autodiff gives
// the minus sign. Δ is a constant (no gradient through max|w|). W_p and W_n start at 1,
// as in tensorpack, or at the mean |w| of their sets with InitMean. Both must stay positive.
type TTQ struct {
	Threshold float32 `q:"threshold,default=0.05,gt=0,lt=1,show"` // Δ relative to max|w|
	InitMean  bool    `q:"init,enum=one|mean"`                    // W_p, W_n start at the mean |w| of the positive/negative set instead of 1
}

func (TTQ) Name() string     { return "ttq" }
func (t TTQ) String() string { return Format(t) }
func (TTQ) BitsFor(Role) int { return 2 }
func (TTQ) Symmetric() bool  { return true }
func (TTQ) DataInit() bool   { return false }

func (t TTQ) Build(tg Target) (Func, error) {
	t, err := Resolve(t)
	if err != nil {
		return nil, err
	}
	if err := checkShape("ttq", tg); err != nil {
		return nil, err
	}
	d := t.Threshold
	f := &ttqFunc{threshold: d, wp: 1, wn: 1, weights: tg.Role == Weights}
	if t.InitMean && len(tg.Init) > 0 {
		m := maxAbs(tg.Init)
		thr := d * m
		var sp, sn float64
		np, nn := 0, 0
		for _, v := range tg.Init {
			switch {
			case v > thr:
				sp += float64(v)
				np++
			case v < -thr:
				sn -= float64(v)
				nn++
			}
		}
		if np > 0 {
			f.wp = float32(sp / float64(np))
		}
		if nn > 0 {
			f.wn = float32(sn / float64(nn))
		}
	}
	return f, nil
}

type ttqFunc struct {
	threshold float32
	wp, wn    float32 // initial values
	weights   bool
}

func (f *ttqFunc) Params() []Param {
	return []Param{{Name: "wp", Data: []float32{f.wp}}, {Name: "wn", Data: []float32{f.wn}}}
}

// setup validates the call and returns Δ·max|w|, W_p and W_n; max|w| comes
// from the node state st (may be nil) when its forward pass saw w.
func (f *ttqFunc) setup(w []float32, p [][]float32, st *ttqState) (thr, wp, wn float32, err error) {
	if err := scalarParams("ttq", p, 2); err != nil {
		return 0, 0, 0, err
	}
	wp, wn = p[0][0], p[1][0]
	if err := positive("ttq", "wp", wp); err != nil {
		return 0, 0, 0, err
	}
	if err := positive("ttq", "wn", wn); err != nil {
		return 0, 0, 0, err
	}
	if len(w) == 0 {
		return 0, 0, 0, fmt.Errorf("ste: ttq: empty input")
	}
	var m float32
	if st != nil && st.fwd && st.src == unsafe.SliceData(w) && st.n == len(w) {
		m = st.m // this node's forward pass saw these weights
	} else {
		m = maxAbs(w)
	}
	if m == 0 && f.weights {
		return 0, 0, 0, fmt.Errorf("%w: ttq: all weights are zero", ErrParam)
	}
	if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
		return 0, 0, 0, fmt.Errorf("%w: ttq: max|w| is %g", ErrParam, m)
	}
	return f.threshold * m, wp, wn, nil
}

// ttqState is the memory of one TTQ graph node (Ctx.State): ∂W_p and ∂W_n
// of forward pass number pass (ok: computed) at threshold thr and scales wp,
// wn, found by the pass that computes ∂w, so the two scalar gradients do not
// each read the weights again.
//
// It also keeps max|w| of the forward pass (fwd: set) for weights src of
// length n, which the gradients of that pass reuse.
type ttqState struct {
	forward, pass uint64
	ok            bool
	thr, wp, wn   float32
	dp, dn        float32

	fwd bool
	m   float32
	src *float32
	n   int
}

// NewState returns the memory of one graph node.
func (f *ttqFunc) NewState() any { return &ttqState{} }

// sel is a when ok and b otherwise, without a branch (ternary weights
// mispredict one in two).
func sel(ok bool, a, b float32) float32 {
	m := -uint32(b2i(ok))
	return math.Float32frombits(math.Float32bits(a)&m | math.Float32bits(b)&^m)
}

func (f *ttqFunc) Forward(y, w []float32, p [][]float32, c Ctx) error {
	if err := checkLenOf("ttq", y, w); err != nil {
		return err
	}
	st, _ := c.State.(*ttqState)
	if st != nil {
		st.forward++
		st.fwd, st.m, st.src, st.n = true, maxAbsParallel(w), unsafe.SliceData(w), len(w)
	}
	thr, wp, wn, err := f.setup(w, p, st)
	if err != nil {
		return err
	}
	y = y[:len(w)]
	parallel.Rows(len(w), 1, func(_, lo, hi int) {
		for i, v := range w[lo:hi] {
			y[lo+i] = sel(v > thr, wp, sel(v < -thr, -wn, 0))
		}
	})
	return nil
}

// maxAbsParallel is maxAbs over parallel chunks (the max of the chunks'
// maxima: the same value, as max does not depend on the order).
func maxAbsParallel(w []float32) float32 {
	var parts [parallel.MaxParts]float32
	n := parallel.Rows(len(w), 1, func(part, lo, hi int) { parts[part] = maxAbs(w[lo:hi]) })
	return maxAbs(parts[:n])
}

// ttqGrad writes ∂w into dst (unless nil) and returns ∂W_p and ∂W_n, summed
// in float64 in index order. A weight outside a set adds +0, which leaves the
// sum's bits as skipping it would (the sums start at +0 and never become −0).
//
// ∂w runs as its own pass, beside the sums on another core when the tensor
// is large: the two float64 sums are chains of dependent adds that cannot be
// split without changing their rounding, and the selects kept in their loop
// made it several times slower.
func ttqGrad(dst, g, w []float32, thr, wp, wn float32) (dp, dn float32) {
	g = g[:len(w)]
	if dst == nil {
		return ttqSums(g, w, thr)
	}
	dst = dst[:len(w)]
	parallel.Rows(2, len(w)/2, func(_, lo, hi int) { // task 0: the sums, task 1: ∂w
		if lo == 0 {
			dp, dn = ttqSums(g, w, thr)
		}
		if hi == 2 {
			for i, v := range w {
				gi := g[i]
				dst[i] = sel(v > thr, wp*gi, sel(v < -thr, wn*gi, gi))
			}
		}
	})
	return dp, dn
}

// ttqSums returns Σ_{w_i > thr} g_i and −Σ_{w_i < −thr} g_i, in float64 in index order.
func ttqSums(g, w []float32, thr float32) (dp, dn float32) {
	g = g[:len(w)]
	var sp, sn float64
	for i, v := range w {
		sp += float64(keep(g[i], v > thr))
		sn -= float64(keep(g[i], v < -thr))
	}
	return float32(sp), float32(sn)
}

func (f *ttqFunc) Grad(wrt int, dst, g, w, _ []float32, p [][]float32, c Ctx) error {
	st, _ := c.State.(*ttqState)
	thr, wp, wn, err := f.setup(w, p, st)
	if err != nil {
		return err
	}
	var dp, dn float32
	switch wrt {
	case 0:
		if err := checkGradLen("ttq", dst, g, w); err != nil {
			return err
		}
		dp, dn = ttqGrad(dst, g, w, thr, wp, wn)
	case 1, 2:
		if len(dst) != 1 || len(g) != len(w) {
			return fmt.Errorf("ste: ttq: gradient lengths dst %d (want 1), upstream %d, input %d", len(dst), len(g), len(w))
		}
		if st != nil && st.ok && st.pass == st.forward && st.thr == thr && st.wp == wp && st.wn == wn {
			dp, dn = st.dp, st.dn
		} else {
			dp, dn = ttqGrad(nil, g, w, thr, wp, wn)
		}
		dst[0] = sel(wrt == 1, dp, dn)
	default:
		return errWRT("ttq", wrt)
	}
	if st != nil {
		st.ok, st.pass, st.thr, st.wp, st.wn, st.dp, st.dn = true, st.forward, thr, wp, wn, dp, dn
	}
	return nil
}

func init() {
	Register(TTQ{}, "trained ternary +W_p/0/−W_n with Δ = threshold·max|w|, learnable W_p, W_n (TTQ)")
}
