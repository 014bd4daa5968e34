package ptq

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lowbit/lowbit/internal/gemm"
)

// AdaConfig sets AdaRound's optimisation; zero fields take the defaults shown.
type AdaConfig struct {
	Iters     int     // Adam steps per layer; 1000
	Batch     int     // patches per step; 256
	LR        float64 // Adam learning rate on V; 0.01
	Lambda    float64 // regulariser weight λ; 0.01 (Nagel et al. 2020; BRECQ's code)
	Warmup    float64 // fraction of steps without the regulariser; 0.2
	BetaStart float64 // β at the end of warm-up; 20
	BetaEnd   float64 // β at the last step; 2
}

func (a *AdaConfig) fill() error {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if a.Iters == 0 {
		a.Iters = 1000
	}
	if a.Batch == 0 {
		a.Batch = 256
	}
	def(&a.LR, 0.01)
	def(&a.Lambda, 0.01)
	def(&a.Warmup, 0.2)
	def(&a.BetaStart, 20)
	def(&a.BetaEnd, 2)
	if a.Iters < 1 || a.Batch < 1 || !(a.LR > 0) || !(a.Lambda >= 0) || !(a.Warmup >= 0 && a.Warmup < 1) || !(a.BetaEnd > 0) || !(a.BetaStart >= a.BetaEnd) {
		return fmt.Errorf("%w: AdaRound settings %+v", ErrConfig, *a)
	}
	return nil
}

// The rectified sigmoid's stretch (Nagel et al. 2020, eq. 23).
const (
	zeta  = 1.1
	gamma = -0.1
)

// rectSig is h(V) = clip(σ(V)(ζ−γ)+γ, 0, 1) and its derivative.
func rectSig(v float64) (h, dh float64) {
	s := 1 / (1 + math.Exp(-v))
	h = s*(zeta-gamma) + gamma
	if h <= 0 {
		return 0, 0
	}
	if h >= 1 {
		return 1, 0
	}
	return h, s * (1 - s) * (zeta - gamma)
}

// AdaRound learns, for the weights w ([rows][k]) on the grid g with steps (one, or
// one per row), whether each weight rounds down or up (Nagel et al. 2020,
// https://arxiv.org/abs/2004.10568): it minimises
//
//	mean_r ‖x_r·W̃ᵀ − y_r‖² + λ·Σ(1 − |2h(V) − 1|^β),  W̃ = s·clip(⌊w/s⌋ + h(V), −Q_N, Q_P)
//
// over V with Adam on minibatches of the patches x ([R][k], the layer's quantized
// inputs) and targets y ([R][rows], the float layer's outputs), β annealed linearly
// from BetaStart to BetaEnd after the warm-up. V starts where h(V) = w/s − ⌊w/s⌋.
// It returns the integer levels clip(⌊w/s⌋ + 1{h(V) ≥ ½}, −Q_N, Q_P).
func AdaRound(w []float32, rows, k int, steps []float32, g Grid, x, y []float32, cfg AdaConfig, seed uint64) ([]float32, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := len(x) / k
	if rows < 1 || k < 1 || len(w) != rows*k || r == 0 || len(x) != r*k || len(y) != r*rows || (len(steps) != 1 && len(steps) != rows) {
		return nil, fmt.Errorf("%w: AdaRound: %d weights for %d×%d, %d steps, %d inputs, %d targets", ErrConfig, len(w), rows, k, len(steps), len(x), len(y))
	}
	qn, qp := g.Levels()
	st := &adaState{rows: rows, k: k, qn: float64(qn), qp: float64(qp), fl: make([]float64, len(w)), s: make([]float64, len(w)), v: make([]float64, len(w))}
	for i, wi := range w {
		s := float64(steps[min(i/k, len(steps)-1)])
		if !(s > 0) {
			return nil, fmt.Errorf("%w: AdaRound: step %g", ErrConfig, s)
		}
		u := float64(wi) / s
		st.s[i], st.fl[i] = s, math.Floor(u)
		p := min(max((u-st.fl[i]-gamma)/(zeta-gamma), 1e-4), 1-1e-4)
		st.v[i] = math.Log(p / (1 - p))
	}
	if err := st.optimise(x, y, r, cfg, rand.New(rand.NewPCG(seed, 0xada))); err != nil {
		return nil, fmt.Errorf("ptq: AdaRound: %w", err)
	}
	levels := make([]float32, len(w))
	for i := range levels {
		up := 0.0
		if st.v[i] >= 0 {
			up = 1
		}
		levels[i] = float32(min(max(st.fl[i]+up, -st.qn), st.qp))
	}
	return levels, nil
}

type adaState struct {
	rows, k int
	qn, qp  float64
	fl, s   []float64 // ⌊w/s⌋ and the step of each weight
	v       []float64
	h, dh   []float64 // h(V) and h'(V) of the current V, shared by soft and adam
}

// soft writes W̃ for the current V into wt, keeping h(V) and h'(V).
func (a *adaState) soft(wt []float32) {
	if a.h == nil {
		a.h, a.dh = make([]float64, len(a.v)), make([]float64, len(a.v))
	}
	for i, v := range a.v {
		a.h[i], a.dh[i] = rectSig(v)
		wt[i] = float32(a.s[i] * min(max(a.fl[i]+a.h[i], -a.qn), a.qp))
	}
}

func (a *adaState) optimise(x, y []float32, r int, cfg AdaConfig, rng *rand.Rand) error {
	b := min(cfg.Batch, r)
	n := len(a.v)
	wt, dw := make([]float32, n), make([]float32, n)
	xb, yb, pb := make([]float32, b*a.k), make([]float32, b*a.rows), make([]float32, b*a.rows)
	m1, m2 := make([]float64, n), make([]float64, n)
	warm := int(cfg.Warmup * float64(cfg.Iters))
	for t := 0; t < cfg.Iters; t++ {
		for i := 0; i < b; i++ {
			j := rng.IntN(r)
			copy(xb[i*a.k:(i+1)*a.k], x[j*a.k:(j+1)*a.k])
			copy(yb[i*a.rows:(i+1)*a.rows], y[j*a.rows:(j+1)*a.rows])
		}
		a.soft(wt)
		if err := gemm.Sgemm(false, true, b, a.rows, a.k, 1, xb, a.k, wt, a.k, 0, pb, a.rows); err != nil {
			return err
		}
		for i := range pb {
			pb[i] = 2 * (pb[i] - yb[i]) / float32(b)
		}
		if err := gemm.Sgemm(true, false, a.rows, a.k, b, 1, pb, a.rows, xb, a.k, 0, dw, a.k); err != nil {
			return err
		}
		beta, lambda := 0.0, 0.0
		if t >= warm {
			rel := float64(t-warm) / float64(max(1, cfg.Iters-warm))
			beta, lambda = cfg.BetaEnd+(cfg.BetaStart-cfg.BetaEnd)*(1-rel), cfg.Lambda
		}
		a.adam(dw, m1, m2, t+1, beta, lambda, cfg.LR)
	}
	return nil
}

// adam takes one Adam step on V given ∂loss/∂W̃ in dw.
func (a *adaState) adam(dw []float32, m1, m2 []float64, t int, beta, lambda, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	c1, c2 := 1-math.Pow(b1, float64(t)), 1-math.Pow(b2, float64(t))
	for i, v := range a.v {
		h, dh := a.h[i], a.dh[i]
		var g float64
		if u := a.fl[i] + h; u >= -a.qn && u <= a.qp {
			g = float64(dw[i]) * a.s[i] * dh
		}
		if lambda > 0 && dh > 0 {
			d := 2*h - 1
			// ∂/∂h of 1 − |2h−1|^β is −2β|2h−1|^(β−1)·sign(2h−1)
			g += lambda * -2 * beta * powAbs(d, beta-1) * math.Copysign(1, d) * dh
		}
		m1[i] = b1*m1[i] + (1-b1)*g
		m2[i] = b2*m2[i] + (1-b2)*g*g
		a.v[i] = v - lr*(m1[i]/c1)/(math.Sqrt(m2[i]/c2)+eps)
	}
}

// powAbs is |d|^e, with the integer-free exponent through exp/log (|d| ≤ 1 here).
func powAbs(d, e float64) float64 {
	a := math.Abs(d)
	if a == 0 {
		return 0
	}
	return math.Exp(e * math.Log(a))
}
