package ste

import "fmt"

// XNOR binarizes weights with one scale per output channel (XNOR-Net, Rastegari et al. 2016,
// https://arxiv.org/abs/1603.05279):
//
//	α_o  = mean_j |W_oj|            (over c·kh·kw of output channel o)
//	q(W) = α_o·sign(W)
//	q'(W) = α_o·1{|W| ≤ 1}                    (default: α is a constant, as in Larq and tensorpack)
//	q'(W) = 1/n + α_o·1{|W| ≤ 1}              (GradAlpha: the paper's gradient through α, n = c·kh·kw)
//
// On inputs it computes the same per-row scaled sign (per sample).
type XNOR struct {
	GradAlpha bool `q:"alpha,enum=stop|grad"`
}

func (XNOR) Name() string     { return "xnor" }
func (x XNOR) String() string { return Format(x) }
func (XNOR) BitsFor(Role) int { return 1 }
func (XNOR) Symmetric() bool  { return true }
func (XNOR) DataInit() bool   { return false }
func (x XNOR) Build(t Target) (Func, error) {
	if err := checkShape("xnor", t); err != nil {
		return nil, err
	}
	return x, nil
}
func (XNOR) Params() []Param { return nil }

func rowLen(n int, c Ctx) (int, error) {
	if c.Rows <= 0 || n%c.Rows != 0 {
		return 0, fmt.Errorf("ste: %d values do not split into %d rows", n, c.Rows)
	}
	return n / c.Rows, nil
}

func (x XNOR) Forward(y, w []float32, _ [][]float32, c Ctx) error {
	if err := checkLen(y, w); err != nil {
		return err
	}
	n, err := rowLen(len(w), c)
	if err != nil {
		return err
	}
	for r := 0; r < c.Rows; r++ {
		row := w[r*n : (r+1)*n]
		a := meanAbs(row)
		out := y[r*n : (r+1)*n]
		for i, v := range row {
			out[i] = a * sign(v) // sign is branch-free
		}
	}
	return nil
}

func (x XNOR) Grad(wrt int, dst, g, w, _ []float32, _ [][]float32, c Ctx) error {
	if wrt != 0 {
		return errWRT("xnor", wrt)
	}
	n, err := rowLen(len(w), c)
	if err != nil {
		return err
	}
	inv := 1 / float32(n)
	for r := 0; r < c.Rows; r++ {
		row := w[r*n : (r+1)*n]
		a := meanAbs(row)
		var extra float32
		if x.GradAlpha {
			extra = inv
		}
		gr, dr := g[r*n:(r+1)*n], dst[r*n:(r+1)*n]
		for i, v := range row {
			dr[i] = gr[i] * (keep(a, abs(v) <= 1) + extra)
		}
	}
	return nil
}

func init() {
	Register(XNOR{}, "α·sign(W), α = mean|W| per output channel (XNOR-Net)")
}
