// Package qfunc is the scalar arithmetic of lowbit's value-only quantizers
// (round half to even, clip, sign) and Desc, a plain description of such a
// quantizer's inference-time function.
//
// Both the training forward pass (package ste) and the packed engine (package
// bitpack) evaluate a Desc with the functions here, so both compute q(x) with the
// same float32 operations in the same order: equality holds by construction, and
// export's probe only confirms it. The package imports nothing but the standard
// library, so every layer of lowbit may use it.
package qfunc

import (
	"fmt"
	"math"
)

// Round is round-half-to-even. For |x| < 2^22, adding and subtracting 1.5·2^23
// rounds in the FPU's default mode (to nearest, ties to even) without the
// software math.RoundToEven that GOAMD64=v1 builds get; zero comes out +0.
//
// The conversion float32(x) rounds an inlined product argument (Round(l·r))
// before the add, so GOAMD64=v3 builds do not fuse them into one multiply-add
// and every build rounds alike.
func Round(x float32) float32 {
	const magic = 1.5 * (1 << 23)
	x = float32(x)
	if Abs(x) < 1<<22 {
		y := x + magic
		return y - magic
	}
	return float32(math.RoundToEven(float64(x)))
}

// Clip is min(max(x, lo), hi); NaN stays NaN.
func Clip(x, lo, hi float32) float32 { return min(max(x, lo), hi) }

// ClipRound is Round(Clip(x, lo, hi)) for |lo|, |hi| < 2^22 (quantizer levels):
// the clip keeps the value where adding and subtracting 1.5·2^23 rounds exactly,
// so it needs neither Round's range branch nor a fallback, and a loop over it
// stays branch-free. NaN stays NaN; zero comes out +0.
func ClipRound(x, lo, hi float32) float32 {
	const magic = 1.5 * (1 << 23)
	u := Clip(x, lo, hi)
	return u + magic - magic
}

// Abs is |x| by clearing the sign bit.
func Abs(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// Sign is +1 for x ≥ 0 (−0 included) and −1 otherwise (NaN included), without a
// branch: random signs mispredict one in two.
func Sign(x float32) float32 {
	return math.Float32frombits(0x3f800000 | uint32(b2i(!(x >= 0)))<<31)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Kinds of Desc.
const (
	Identity = ""       // q(x) = x
	SignKind = "sign"   // q(x) = Sign(x)
	Linear   = "linear" // q(x) = Round(Clip(x·Mul, Lo, Hi))·Num/Den
)

// Desc describes a quantizer whose output depends on the value alone (no batch
// statistics, no per-row scales), with its learned parameters already folded in.
// A Linear Desc maps x to the integer code
//
//	c(x) = ClipRound(x·Mul, Lo, Hi)         Lo ≤ 0 < Hi, both integers
//
// and the code to the value c·Num/Den. Den is 1 unless the value is a division
// (DoReFa's c/(2^k−1)): float32 c·(1/L) and c/L differ in the last bit.
type Desc struct {
	Kind string  `json:"kind,omitempty"`
	Mul  float32 `json:"mul,omitempty"`
	Lo   float32 `json:"lo,omitempty"`
	Hi   float32 `json:"hi,omitempty"`
	Num  float32 `json:"num,omitempty"`
	Den  float32 `json:"den,omitempty"`
}

// maxCode bounds |Lo| and Hi: 16-bit codes at most.
const maxCode = 1 << 16

// Levels is round(clip(x·L, 0, L))/L, DoReFa's quantize_k on [0,1] with L = 2^k−1.
func Levels(l int) Desc {
	return Desc{Kind: Linear, Mul: float32(l), Lo: 0, Hi: float32(l), Num: 1, Den: float32(l)}
}

// Step is round(clip(x/s, lo, hi))·s with x/s computed as x·(1/s), LSQ's quantizer.
func Step(s float32, lo, hi int) Desc {
	return Desc{Kind: Linear, Mul: 1 / s, Lo: float32(lo), Hi: float32(hi), Num: s, Den: 1}
}

// Clipped is round(clip(x, 0, α)·L/α)·α/L, PACT's quantizer with L levels above 0.
func Clipped(alpha float32, l int) Desc {
	lf := float32(l)
	return Desc{Kind: Linear, Mul: lf / alpha, Lo: 0, Hi: lf, Num: alpha / lf, Den: 1}
}

func finitePositive(v float32) bool { return v > 0 && !math.IsInf(float64(v), 0) }

func integer(v float32) bool { return v == float32(math.Trunc(float64(v))) }

// Validate reports a Desc that cannot be evaluated.
func (d Desc) Validate() error {
	switch d.Kind {
	case Identity, SignKind:
		return nil
	case Linear:
	default:
		return fmt.Errorf("unknown quantizer kind %q", d.Kind)
	}
	if !finitePositive(d.Mul) || !finitePositive(d.Num) || !finitePositive(d.Den) {
		return fmt.Errorf("linear quantizer with mul %g, num %g, den %g: want positive finite numbers", d.Mul, d.Num, d.Den)
	}
	if !integer(d.Lo) || !integer(d.Hi) || d.Lo > 0 || d.Hi <= 0 || d.Lo < -maxCode || d.Hi > maxCode {
		return fmt.Errorf("linear quantizer with codes [%g, %g]: want integers with −%d ≤ lo ≤ 0 < hi ≤ %d", d.Lo, d.Hi, maxCode, maxCode)
	}
	return nil
}

// Code is the integer code c(x) of a Linear Desc (as a float32).
func (d Desc) Code(x float32) float32 { return ClipRound(x*d.Mul, d.Lo, d.Hi) }

// Value is q(x).
func (d Desc) Value(x float32) float32 {
	switch d.Kind {
	case SignKind:
		return Sign(x)
	case Linear:
		return d.Code(x) * d.Num / d.Den
	}
	return x
}

// Apply writes q(x) into y (len(y) ≥ len(x)).
func (d Desc) Apply(y, x []float32) {
	y = y[:len(x)]
	switch d.Kind {
	case SignKind:
		for i, v := range x {
			y[i] = Sign(v)
		}
	case Linear:
		for i, v := range x {
			y[i] = d.Code(v) * d.Num / d.Den
		}
	default:
		copy(y, x)
	}
}

// HasCodes reports whether d maps values to integer codes (Linear).
func (d Desc) HasCodes() bool { return d.Kind == Linear }

// Offset is the unsigned code of the value 0: codes are stored as c(x) − Lo.
func (d Desc) Offset() int { return -int(d.Lo) }

// MaxCode is the largest unsigned code: Hi − Lo (Linear), 1 (Sign), else 0.
func (d Desc) MaxCode() int {
	switch d.Kind {
	case Linear:
		return int(d.Hi) - int(d.Lo)
	case SignKind:
		return 1
	}
	return 0
}

// Scale is the value of one code step, Num/Den (1 without codes).
func (d Desc) Scale() float64 {
	if d.Kind != Linear {
		return 1
	}
	return float64(d.Num) / float64(d.Den)
}

// Codes writes the unsigned codes c(x) − Lo of x into c (len(c) ≥ len(x));
// only for a Linear Desc with MaxCode() ≤ 255.
func (d Desc) Codes(c []uint8, x []float32) {
	c = c[:len(x)]
	off := d.Offset()
	for i, v := range x {
		c[i] = uint8(int(d.Code(v)) + off)
	}
}

// String describes d, e.g. "linear(x·4,[0,4],·0.25)".
func (d Desc) String() string {
	switch d.Kind {
	case Identity:
		return "fp"
	case SignKind:
		return "sign"
	case Linear:
		v := fmt.Sprintf("·%g", d.Num)
		if d.Den != 1 {
			v = fmt.Sprintf("·%g/%g", d.Num, d.Den)
		}
		return fmt.Sprintf("linear(x·%g,[%g,%g],%s)", d.Mul, d.Lo, d.Hi, v)
	}
	return d.Kind
}
