package vec

import (
	"math"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// Loops of the value-only quantizers whose descriptor divides (DoReFa's
// quantize_k), of PACT's backward pass and of DoReFa's stochastic gradient
// quantizer.

// QuantLinear sets y[i] = round(clip(x[i]·mul, lo, hi))·num/den, ties to even:
// qfunc.Desc.Apply of a Linear Desc, with its operations in the same order. lo
// and hi must lie within ±2^22 (quantizer levels). A NaN x gives NaN. len(y)
// must be at least len(x).
func QuantLinear(y, x []float32, mul, lo, hi, num, den float32) {
	y = y[:len(x)]
	if useAsm && len(x) > 0 {
		quantLinearAVX512(&y[0], &x[0], len(x), mul, lo, hi, num, den)
		return
	}
	for i, v := range x {
		y[i] = qfunc.ClipRound(v*mul, lo, hi) * num / den
	}
}

// PACTGrad is PACT's backward pass for clip level a:
//
//	dx[i] = g[i]·1{0 ≤ x[i] < a}       (+0 elsewhere, NaN x included; skipped when dx is nil)
//	sum   = Σ g[i]·1{x[i] ≥ a}
//
// summed in float64 over 16 lanes (lane i mod 16), the lanes then added in a
// fixed order, as LSQGrad does: the assembly and Go sums are bit-identical.
func PACTGrad(dx, g, x []float32, a float32) float64 {
	g = g[:len(x)]
	if dx != nil {
		dx = dx[:len(x)]
	}
	var acc [16]float64
	if useAsm && len(x) > 0 {
		var d *float32
		if dx != nil {
			d = &dx[0]
		}
		pactGradAVX512(d, &g[0], &x[0], len(x), a, &acc)
		return reduce16(&acc)
	}
	for i, v := range x {
		gb := math.Float32bits(g[i])
		acc[i&15] += float64(math.Float32frombits(gb & mask(v >= a)))
		if dx != nil {
			dx[i] = math.Float32frombits(gb & mask(v >= 0 && v < a))
		}
	}
	return reduce16(&acc)
}

// NoisyLevels is DoReFa's stochastic G-bit quantization of one gradient row
// with its noise u (in [0,1)), l = 2^G−1, inv = 1/(2m) and m2 = 2m:
//
//	out[i] = m2·(round(l·clip(g[i]·inv + ½ + (u[i]−½)/l, 0, 1))/l − ½)
//
// each operation rounded to float32 in that order (no fused multiply-add).
func NoisyLevels(out, g, u []float32, inv, l, m2 float32) {
	out, u = out[:len(g)], u[:len(g)]
	if useAsm && len(g) > 0 {
		noisyLevelsAVX512(&out[0], &g[0], &u[0], len(g), inv, l, m2)
		return
	}
	for i, v := range g {
		r := float32(float32(v*inv)+0.5) + (u[i]-0.5)/l
		q := min(max(r, 0), 1)
		q = float32(l*q) + magic - magic
		out[i] = m2 * (q/l - 0.5)
	}
}

// TanhLevels is DoReFa's k-bit weight quantizer applied to u = tanh(w), with
// m2 = 2·max|u| and l = 2^k−1:
//
//	y[i] = 2·(round(l·(u[i]/m2 + ½))/l) − 1
//
// each operation rounded to float32 in that order. u lies in [−1, 1], so
// l·(·) stays far below 2^22.
func TanhLevels(y, u []float32, m2, l float32) {
	y = y[:len(u)]
	if useAsm && len(u) > 0 {
		tanhLevelsAVX512(&y[0], &u[0], len(u), m2, l)
		return
	}
	for i, v := range u {
		r := v/m2 + 0.5
		q := float32(l*r) + magic - magic
		y[i] = 2*(q/l) - 1
	}
}

// TanhGrad is the elementwise part of DoReFa's k-bit weight gradient:
// dst[i] = g[i]·(1 − u[i]·u[i])/m, each operation rounded to float32 in that order.
func TanhGrad(dst, g, u []float32, m float32) {
	dst, g = dst[:len(u)], g[:len(u)]
	if useAsm && len(u) > 0 {
		tanhGradAVX512(&dst[0], &g[0], &u[0], len(u), m)
		return
	}
	for i, v := range u {
		dst[i] = g[i] * (1 - float32(v*v)) / m
	}
}

// math.Tanh's coefficients (Cephes) for 0 < |x| < 0.625.
const (
	tanhP0 = -9.64399179425052238628e-1
	tanhP1 = -9.92877231001918586564e1
	tanhP2 = -1.61468768441708447952e3
	tanhQ0 = 1.12811678491632931402e2
	tanhQ1 = 2.23548839060100448583e3
	tanhQ2 = 4.84406305325125486048e3
)

// TanhRational sets u[i] = float32(r(float64(w[i]))) for math.Tanh's formula
// for 0 < |x| < 0.625,
//
//	r(x) = x + x·s·((P0·s + P1)·s + P2) / (((s + Q0)·s + Q1)·s + Q2),  s = x·x,
//
// each float64 operation rounded in that order (no fused multiply-add), eight
// lanes at a time in the assembly. Where 0 < |w[i]| < 0.625 this is
// float32(math.Tanh(float64(w[i]))) as math.Tanh computes it without fused
// operations; elsewhere the caller must compute u[i] itself.
func TanhRational(u, w []float32) {
	u = u[:len(w)]
	if useAsm && len(w) > 0 {
		tanhRationalAVX512(&u[0], &w[0], len(w))
		return
	}
	for i, v := range w {
		x := float64(v)
		s := float64(x * x)
		p := float64(float64(float64(float64(tanhP0*s)+tanhP1)*s) + tanhP2)
		q := float64(float64(float64(float64(float64(s+tanhQ0)*s)+tanhQ1)*s) + tanhQ2)
		u[i] = float32(x + float64(float64(x*s)*p)/q)
	}
}
