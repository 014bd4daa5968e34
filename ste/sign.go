package ste

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/vec"
)

// Sign binarizes with a clipped straight-through estimator (BNN, Courbariaux et al. 2016,
// https://arxiv.org/abs/1602.02830):
//
//	q(x)  = +1 if x ≥ 0, else −1
//	q'(x) = 1{|x| ≤ Clip}     (the hardtanh derivative; Clip defaults to 1)
//
// With Clip < 0 the gradient passes unclipped (identity STE).
type Sign struct {
	Clip float32
}

func (Sign) Name() string { return "sign" }
func (s Sign) String() string {
	if s.Clip == 0 || s.Clip == 1 {
		return "sign"
	}
	return fmt.Sprintf("sign(clip=%g)", s.Clip)
}
func (Sign) Bits() int                    { return 1 }
func (s Sign) Build(Target) (Func, error) { return s, nil }
func (Sign) Params() []Param              { return nil }

func (s Sign) clip() float32 {
	if s.Clip == 0 {
		return 1
	}
	return s.Clip
}

func (s Sign) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	parallel.Rows(len(x), 1, func(_, lo, hi int) { vec.Sign(y[lo:hi], x[lo:hi]) })
	return nil
}

func (s Sign) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("sign", wrt)
	}
	c := s.clip()
	if c < 0 {
		copy(dst, g)
		return nil
	}
	parallel.Rows(len(x), 1, func(_, lo, hi int) { vec.KeepAbsLE(dst[lo:hi], g[lo:hi], x[lo:hi], c) })
	return nil
}

// ApproxSign is Bi-Real Net's sign with a piecewise-polynomial surrogate
// (Liu et al. 2018, https://arxiv.org/abs/1808.00278):
//
//	q(x)  = +1 if x ≥ 0, else −1
//	q'(x) = (2 − 2|x|)·1{|x| ≤ 1}
type ApproxSign struct{ stateless }

func (ApproxSign) Name() string                 { return "approxsign" }
func (ApproxSign) String() string               { return "approxsign" }
func (ApproxSign) Bits() int                    { return 1 }
func (a ApproxSign) Build(Target) (Func, error) { return a, nil }

func (ApproxSign) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	return Sign{}.Forward(y, x, nil, Ctx{})
}

func (ApproxSign) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("approxsign", wrt)
	}
	for i, v := range x {
		a := abs(v)
		if a <= 1 {
			dst[i] = g[i] * (2 - 2*a)
		} else {
			dst[i] = 0
		}
	}
	return nil
}

func init() {
	Register("sign", "sign(x) with clipped STE 1{|x|≤clip} (BNN); params: clip", func(a Args) (Quantizer, error) {
		c, err := a.Float("clip", 1)
		if err != nil {
			return nil, err
		}
		return Sign{Clip: float32(c)}, nil
	})
	Register("approxsign", "sign(x) with Bi-Real's (2−2|x|)·1{|x|≤1} surrogate", func(a Args) (Quantizer, error) {
		return ApproxSign{}, nil
	})
}
