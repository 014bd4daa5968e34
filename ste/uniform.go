package ste

import "github.com/lowbit/lowbit/internal/qfunc"

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
	f.desc.Apply(y, x)
	return nil
}

func (f levelsFunc) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT(f.name, wrt)
	}
	if !f.clipped {
		copy(dst, g)
		return nil
	}
	for i, v := range x {
		if v >= 0 && v <= 1 {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
	return nil
}

func init() {
	Register(Uniform{}, "round((2^k−1)·clip(x,0,1))/(2^k−1), identity STE")
}
