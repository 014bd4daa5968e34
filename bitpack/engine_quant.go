package bitpack

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// Input quantizer kinds of [InputQuant].
const (
	QuantNone   = qfunc.Identity // full precision: the input passes unchanged
	QuantSign   = qfunc.SignKind // sign(x): +1 for x >= 0, else −1 (BNN, XNOR-Net)
	QuantLinear = qfunc.Linear   // round(clip(x·Mul, Lo, Hi))·Num/Den (DoReFa, LSQ, PACT, ...)
)

// InputQuant is the quantizer a conv or dense layer applies to its input: the
// training quantizer's descriptor (ste.Infer), evaluated by the same
// scalar code (package internal/qfunc) as the training forward pass, so the
// engine sees the same quantized values. A QuantLinear quantizer yields integer
// codes c with value = Scale()·(c − Offset()).
type InputQuant qfunc.Desc

func finitePositive(v float32) bool {
	return v > 0 && !math.IsInf(float64(v), 0)
}

func (q InputQuant) desc() qfunc.Desc { return qfunc.Desc(q) }

// Validate reports an InputQuant that cannot run.
func (q InputQuant) Validate() error { return q.desc().Validate() }

// String describes q, e.g. "linear(x·9.09,[−8,7],·0.11)".
func (q InputQuant) String() string { return q.desc().String() }

// Quantize writes the quantized values q(x) into y (len(y) == len(x)).
func (q InputQuant) Quantize(y, x []float32) { q.desc().Apply(y, x) }

// HasCodes reports whether q maps inputs to integer codes.
func (q InputQuant) HasCodes() bool { return q.desc().HasCodes() }

// Offset is the code of the value 0.
func (q InputQuant) Offset() int { return q.desc().Offset() }

// MaxCode is the largest code (1 for sign, 0 for none).
func (q InputQuant) MaxCode() int { return q.desc().MaxCode() }

// Scale is the value of one code step (1 without codes).
func (q InputQuant) Scale() float64 { return q.desc().Scale() }

// Codes writes the integer codes of x into c (len(c) == len(x)); only for
// quantizers with codes and MaxCode() <= 255.
func (q InputQuant) Codes(c []uint8, x []float32) { q.desc().Codes(c, x) }

// legacyInput is the input quantizer as model files before the descriptor
// stored it: one kind per training quantizer.
type legacyInput struct {
	qfunc.Desc
	Levels int     `json:"levels"`
	Step   float32 `json:"step"`
	QN     int     `json:"qn"`
	QP     int     `json:"qp"`
	Alpha  float32 `json:"alpha"`
}

// UnmarshalJSON reads the descriptor, and the per-quantizer kinds "uniform",
// "lsq" and "pact" of older model files as the descriptors they denote.
func (q *InputQuant) UnmarshalJSON(b []byte) error {
	var l legacyInput
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	switch l.Kind {
	case "uniform":
		l.Desc = qfunc.Levels(l.Levels)
	case "lsq":
		if l.Step == 0 {
			return fmt.Errorf("lsq input quantizer with step 0")
		}
		l.Desc = qfunc.Step(l.Step, -l.QN, l.QP)
	case "pact":
		if l.Alpha == 0 || l.Levels == 0 {
			return fmt.Errorf("pact input quantizer with alpha %g and %d levels", l.Alpha, l.Levels)
		}
		l.Desc = qfunc.Clipped(l.Alpha, l.Levels)
	}
	*q = InputQuant(l.Desc)
	return nil
}
