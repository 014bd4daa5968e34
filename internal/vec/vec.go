// Package vec holds the elementwise float32 loops of the quantizers' forward
// and backward passes: AVX-512 assembly where the CPU has it, with pure-Go
// loops that give bit-identical results everywhere else (or with
// LOWBIT_NOASM=1 set at program start).
//
// The loops are the quantizers' whole per-element cost in a training step
// (ResNet-20's activations are 23M values per step), so they must not branch
// per element: the Go versions use bit masks, the assembly opmasks.
package vec

import (
	"math"
	"os"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// useAsm is true when the assembly loops run: the CPU has AVX-512F and
// LOWBIT_NOASM=1 was not set at start. Tests switch it to cover both paths.
var useAsm = hasAVX512 && os.Getenv("LOWBIT_NOASM") != "1"

// Asm reports whether the assembly loops are in use.
func Asm() bool { return useAsm }

// magic rounds to nearest, ties to even, for |x| < 2^22 by x+magic−magic
// in the FPU's default rounding mode; zero comes out +0.
const magic = 1.5 * (1 << 23)

// QuantClip sets y[i] = round(clip(x[i]·inv, lo, hi))·s, with ties rounding to
// even. lo and hi must lie within ±2^22 (they are quantizer levels, at most
// 2^16). A NaN x gives NaN. len(y) must be at least len(x).
func QuantClip(y, x []float32, inv, s, lo, hi float32) {
	y = y[:len(x)]
	if useAsm && len(x) > 0 {
		quantClipAVX512(&y[0], &x[0], len(x), inv, s, lo, hi)
		return
	}
	quantClipGo(y, x, inv, s, lo, hi)
}

// quantClipGo is qfunc.Desc.Apply of qfunc.Step(s, lo, hi) (whose Den is 1),
// with the same scalar functions: the packed engine's code.
func quantClipGo(y, x []float32, inv, s, lo, hi float32) {
	for i, v := range x {
		y[i] = qfunc.ClipRound(v*inv, lo, hi) * s
	}
}

// LSQGrad is the fused backward pass of q(x) = QuantClip(x, 1/s, s, lo, hi)
// with u = x·inv:
//
//	dx[i] = g[i]·1{lo < u < hi}                       (skipped when dx is nil)
//	sum   = Σ g[i]·(round(clip(u, lo, hi)) − u·1{lo < u < hi})
//
// The products are float32, summed in float64 over 16 lanes (lane i mod 16)
// and the lanes then added in a fixed order, so the assembly and Go sums are
// bit-identical and deterministic.
func LSQGrad(dx, g, x []float32, inv, lo, hi float32) float64 {
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
		lsqGradAVX512(d, &g[0], &x[0], len(x), inv, lo, hi, &acc)
	} else {
		lsqGradGo(dx, g, x, inv, lo, hi, &acc)
	}
	return reduce16(&acc)
}

func lsqGradGo(dx, g, x []float32, inv, lo, hi float32, acc *[16]float64) {
	for i, v := range x {
		u := v * inv
		in := mask(u > lo && u < hi)
		r := min(max(u, lo), hi) + magic - magic
		d := r - math.Float32frombits(math.Float32bits(u)&in)
		acc[i&15] += float64(g[i] * d)
		if dx != nil {
			dx[i] = math.Float32frombits(math.Float32bits(g[i]) & in)
		}
	}
}

// reduce16 adds the lanes as the assembly stores them: the two 8-lane halves
// lane by lane, then the 8 sums in order.
func reduce16(acc *[16]float64) float64 {
	var s float64
	for j := range 8 {
		s += acc[j] + acc[j+8]
	}
	return s
}

// Sign sets y[i] = +1 where x[i] ≥ 0 (−0 included) and −1 elsewhere (NaN included).
func Sign(y, x []float32) {
	y = y[:len(x)]
	if useAsm && len(x) > 0 {
		signAVX512(&y[0], &x[0], len(x))
		return
	}
	signGo(y, x)
}

func signGo(y, x []float32) {
	for i, v := range x {
		y[i] = qfunc.Sign(v)
	}
}

// KeepAbsLE sets dst[i] = g[i] where |x[i]| ≤ c and +0 elsewhere (NaN x
// included): the clipped straight-through estimator 1{|x| ≤ c}.
func KeepAbsLE(dst, g, x []float32, c float32) {
	g, dst = g[:len(x)], dst[:len(x)]
	if useAsm && len(x) > 0 {
		keepAbsLEAVX512(&dst[0], &g[0], &x[0], len(x), c)
		return
	}
	keepAbsLEGo(dst, g, x, c)
}

func keepAbsLEGo(dst, g, x []float32, c float32) {
	for i, v := range x {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		dst[i] = math.Float32frombits(math.Float32bits(g[i]) & mask(a <= c))
	}
}

// mask is all ones when ok, else zero, without a branch.
func mask(ok bool) uint32 {
	var b uint32
	if ok {
		b = 1
	}
	return -b
}
