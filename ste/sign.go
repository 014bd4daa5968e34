package ste

import (
	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
	"github.com/lowbit/lowbit/internal/vec"
)

// Sign binarizes with a clipped straight-through estimator (BNN, Courbariaux et al. 2016,
// https://arxiv.org/abs/1602.02830):
//
//	q(x)  = +1 if x ≥ 0, else −1
//	q'(x) = 1{|x| ≤ Clip}     (the hardtanh derivative)
//
// With Clip < 0 the gradient passes unclipped (identity STE).
type Sign struct {
	Clip float32 `q:"clip,default=1"`
}

func (Sign) Name() string     { return "sign" }
func (s Sign) String() string { return Format(s) }
func (Sign) BitsFor(Role) int { return 1 }
func (Sign) Symmetric() bool  { return true }
func (Sign) DataInit() bool   { return false }
func (s Sign) Build(Target) (Func, error) {
	r, err := Resolve(s)
	return signFunc{clip: r.Clip}, err
}

type signFunc struct {
	stateless
	clip float32
}

// Infer: sign(x), which vec.Sign computes with qfunc.Sign (or its vector form).
func (signFunc) Infer([][]float32) (qfunc.Desc, error) { return qfunc.Desc{Kind: qfunc.SignKind}, nil }

func (signFunc) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	parallel.Rows(len(x), 1, func(_, lo, hi int) { vec.Sign(y[lo:hi], x[lo:hi]) })
	return nil
}

func (s signFunc) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("sign", wrt)
	}
	c := s.clip
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
func (a ApproxSign) String() string             { return Format(a) }
func (ApproxSign) BitsFor(Role) int             { return 1 }
func (ApproxSign) Symmetric() bool              { return true }
func (ApproxSign) DataInit() bool               { return false }
func (a ApproxSign) Build(Target) (Func, error) { return a, nil }

func (ApproxSign) Infer(p [][]float32) (qfunc.Desc, error) { return signFunc{}.Infer(p) }

func (ApproxSign) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	return signFunc{}.Forward(y, x, nil, Ctx{})
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
	Register(Sign{}, "sign(x) with clipped STE 1{|x|≤clip} (BNN)")
	Register(ApproxSign{}, "sign(x) with Bi-Real's (2−2|x|)·1{|x|≤1} surrogate")
}
