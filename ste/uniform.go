package ste

import (
	"math"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
	"github.com/lowbit/lowbit/internal/vec"
)

// Uniform is the k-bit uniform quantizer on [0,1], DoReFa's building block
// (Zhou et al. 2016, https://arxiv.org/abs/1606.06160):
//
//	q(x)  = round((2^k−1)·clip(x,0,1)) / (2^k−1)
//	q'(x) = 1                                   (identity STE)
type Uniform struct {
	Bits int `q:"bits,default=8,min=1,max=16,show"` // bit width k
}

func (Uniform) Name() string       { return "uniform" }
func (u Uniform) String() string   { return Format(u) }
func (u Uniform) BitsFor(Role) int { r, _ := Resolve(u); return r.Bits }
func (Uniform) Symmetric() bool    { return false }
func (Uniform) DataInit() bool     { return false }
func (Uniform) Params() []Param    { return nil }
func (u Uniform) Build(Target) (Func, error) {
	r, err := Resolve(u)
	return levelsFunc{name: "uniform", desc: qfunc.Levels(levelsOf(r.Bits))}, err
}

// levelsFunc is quantize_k on [0,1] with the identity STE (Uniform) or the
// STE clipped to [0,1] (DoReFa inputs).
type levelsFunc struct {
	stateless
	name    string
	desc    qfunc.Desc
	clipped bool // gradient 1{0 ≤ x ≤ 1} instead of 1
}

func (f levelsFunc) Infer([][]float32) (qfunc.Desc, error) { return f.desc, nil }

func (f levelsFunc) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	d := f.desc // Linear: vec.QuantLinear is Desc.Apply's arithmetic
	parallel.Rows(len(x), 1, func(_, lo, hi int) {
		vec.QuantLinear(y[lo:hi], x[lo:hi], d.Mul, d.Lo, d.Hi, d.Num, d.Den)
	})
	return nil
}

// Grad: 1{0 ≤ x ≤ 1} is 1{−min < x < next(1)} with the float32 neighbours of the
// bounds (no float32 lies strictly between), the open interval vec.KeepInside tests.
func (f levelsFunc) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT(f.name, wrt)
	}
	if err := checkGradLen(f.name, dst, g, x); err != nil {
		return err
	}
	if !f.clipped {
		copy(dst, g)
		return nil
	}
	lo, hi := -float32(math.SmallestNonzeroFloat32), math.Nextafter32(1, 2)
	parallel.Rows(len(x), 1, func(_, a, b int) { vec.KeepInside(dst[a:b], g[a:b], x[a:b], lo, hi) })
	return nil
}

func init() {
	Register(Uniform{}, "round((2^k−1)·clip(x,0,1))/(2^k−1), identity STE")
}
