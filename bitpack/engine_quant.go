package bitpack

import (
	"fmt"
	"math"
)

// Input quantizer kinds of [InputQuant].
const (
	QuantNone    = ""        // full precision: the input passes unchanged
	QuantSign    = "sign"    // sign(x): +1 for x >= 0, else −1 (BNN, XNOR-Net)
	QuantUniform = "uniform" // round(L·clip(x,0,1))/L with L = Levels (DoReFa inputs)
	QuantLSQ     = "lsq"     // round(clip(x/s, −QN, QP))·s with s = Step (LSQ)
	QuantPACT    = "pact"    // round(clip(x,0,α)·L/α)·α/L with α = Alpha, L = Levels (PACT)
)

// InputQuant is the quantizer a conv or dense layer applies to its input,
// reproduced with exactly the float32 operations of the training forward
// pass, so the engine sees the same quantized values. Every kind except
// QuantNone and QuantSign yields integer codes c with value = Scale()·(c − Offset()).
type InputQuant struct {
	Kind   string  `json:"kind,omitempty"`
	Levels int     `json:"levels,omitempty"` // uniform, pact: 2^k − 1
	Step   float32 `json:"step,omitempty"`   // lsq: the learned step s
	QN     int     `json:"qn,omitempty"`     // lsq: codes lie in [−QN, QP]
	QP     int     `json:"qp,omitempty"`
	Alpha  float32 `json:"alpha,omitempty"` // pact: the learned clip level α
}

func finitePositive(v float32) bool {
	return v > 0 && !math.IsInf(float64(v), 0)
}

// Validate reports an InputQuant that cannot run.
func (q InputQuant) Validate() error {
	switch q.Kind {
	case QuantNone, QuantSign:
		return nil
	case QuantUniform:
		if q.Levels < 1 || q.Levels > 1<<16 {
			return fmt.Errorf("uniform input quantizer with %d levels", q.Levels)
		}
	case QuantLSQ:
		if !finitePositive(q.Step) || q.QN < 0 || q.QP < 1 || q.QN > 1<<16 || q.QP > 1<<16 {
			return fmt.Errorf("lsq input quantizer with step %g and range [−%d, %d]", q.Step, q.QN, q.QP)
		}
	case QuantPACT:
		if !finitePositive(q.Alpha) || q.Levels < 1 || q.Levels > 1<<16 {
			return fmt.Errorf("pact input quantizer with alpha %g and %d levels", q.Alpha, q.Levels)
		}
	default:
		return fmt.Errorf("unknown input quantizer %q", q.Kind)
	}
	return nil
}

// String describes q, e.g. "lsq(step=0.0312,[0,15])".
func (q InputQuant) String() string {
	switch q.Kind {
	case QuantNone:
		return "fp"
	case QuantSign:
		return "sign"
	case QuantUniform:
		return fmt.Sprintf("uniform(levels=%d)", q.Levels)
	case QuantLSQ:
		if q.QN == 0 {
			return fmt.Sprintf("lsq(step=%g,[0,%d])", q.Step, q.QP)
		}
		return fmt.Sprintf("lsq(step=%g,[−%d,%d])", q.Step, q.QN, q.QP)
	case QuantPACT:
		return fmt.Sprintf("pact(alpha=%g,levels=%d)", q.Alpha, q.Levels)
	}
	return q.Kind
}

func round32(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

func clip32(x, lo, hi float32) float32 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// Quantize writes the quantized values q(x) into y (len(y) == len(x)), with
// the float32 arithmetic of the training quantizers.
func (q InputQuant) Quantize(y, x []float32) {
	switch q.Kind {
	case QuantNone:
		copy(y, x)
	case QuantSign:
		for i, v := range x {
			if v >= 0 {
				y[i] = 1
			} else {
				y[i] = -1
			}
		}
	case QuantUniform:
		l := float32(q.Levels)
		for i, v := range x {
			y[i] = round32(l*clip32(v, 0, 1)) / l
		}
	case QuantLSQ:
		s := q.Step
		inv := 1 / s
		qn, qp := -float32(q.QN), float32(q.QP)
		for i, v := range x {
			y[i] = round32(clip32(v*inv, qn, qp)) * s
		}
	case QuantPACT:
		a, l := q.Alpha, float32(q.Levels)
		scale, step := l/a, a/l
		for i, v := range x {
			y[i] = round32(clip32(v, 0, a)*scale) * step
		}
	}
}

// HasCodes reports whether q maps inputs to integer codes.
func (q InputQuant) HasCodes() bool {
	return q.Kind == QuantUniform || q.Kind == QuantLSQ || q.Kind == QuantPACT
}

// Offset is the code of the value 0 (QN for lsq, else 0).
func (q InputQuant) Offset() int {
	if q.Kind == QuantLSQ {
		return q.QN
	}
	return 0
}

// MaxCode is the largest code.
func (q InputQuant) MaxCode() int {
	switch q.Kind {
	case QuantUniform, QuantPACT:
		return q.Levels
	case QuantLSQ:
		return q.QN + q.QP
	case QuantSign:
		return 1
	}
	return 0
}

// Scale is the value of one code step: 1/L (uniform), s (lsq), α/L (pact,
// as the float32 the training pass multiplies by).
func (q InputQuant) Scale() float64 {
	switch q.Kind {
	case QuantUniform:
		return 1 / float64(q.Levels)
	case QuantLSQ:
		return float64(q.Step)
	case QuantPACT:
		return float64(q.Alpha / float32(q.Levels))
	}
	return 1
}

// Codes writes the integer codes of x into c (len(c) == len(x)); only for
// kinds with codes and MaxCode() <= 255.
func (q InputQuant) Codes(c []uint8, x []float32) {
	switch q.Kind {
	case QuantUniform:
		l := float32(q.Levels)
		for i, v := range x {
			c[i] = uint8(round32(l * clip32(v, 0, 1)))
		}
	case QuantLSQ:
		inv := 1 / q.Step
		qn, qp := -float32(q.QN), float32(q.QP)
		off := q.QN
		for i, v := range x {
			c[i] = uint8(int(round32(clip32(v*inv, qn, qp))) + off)
		}
	case QuantPACT:
		a, l := q.Alpha, float32(q.Levels)
		scale := l / a
		for i, v := range x {
			c[i] = uint8(round32(clip32(v, 0, a) * scale))
		}
	}
}
