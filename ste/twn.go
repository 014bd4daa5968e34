package ste

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/vec"
)

// TWN is Ternary Weight Networks (Li et al. 2016, https://arxiv.org/abs/1605.04711):
//
//	Δ = 0.7·mean|W|,  α = mean of |W_i| over |W_i| > Δ
//	q(W_i) = +α if W_i > Δ,  0 if |W_i| ≤ Δ,  −α if W_i < −Δ
//	q'(W) = 1                      (identity STE, as in the paper; α and Δ are constants)
//	q'(W) = 1{|W| ≤ Clip}          (Clip > 0; Larq's ste_tern clips at 1)
//
// Δ and α are taken over the whole layer, or over each output row with PerChannel.
// All-zero weights are an error; with PerChannel an all-zero row stays zero.
type TWN struct {
	PerChannel bool    `q:"perchannel"` // one Δ and α per output row instead of per layer
	Clip       float32 `q:"clip,min=0"` // gradient clip; 0 means none (identity STE)
}

func (TWN) Name() string     { return "twn" }
func (t TWN) String() string { return Format(t) }
func (TWN) BitsFor(Role) int { return 2 }
func (TWN) Symmetric() bool  { return true }
func (TWN) DataInit() bool   { return false }

func (t TWN) Build(tg Target) (Func, error) {
	t, err := Resolve(t)
	if err != nil {
		return nil, err
	}
	if err := checkShape("twn", tg); err != nil {
		return nil, err
	}
	return twnFunc{TWN: t, weights: tg.Role == Weights}, nil
}

type twnFunc struct {
	TWN
	weights bool
}

func (twnFunc) Params() []Param { return nil }

func (f twnFunc) Forward(y, w []float32, _ [][]float32, c Ctx) error {
	if err := checkLenOf("twn", y, w); err != nil {
		return err
	}
	n, err := groupLen("twn", len(w), f.PerChannel, c)
	if err != nil {
		return err
	}
	nonzero := false
	for off := 0; off < len(w); off += n {
		row, out := w[off:off+n], y[off:off+n]
		delta := 0.7 * meanAbs(row)
		var sum float64 // +0 for a weight at or under Δ leaves the sum's bits (branch-free)
		cnt := 0
		for _, v := range row {
			a := abs(v)
			sum += float64(keep(a, a > delta))
			cnt += b2i(a > delta)
		}
		var alpha float32
		if cnt > 0 { // cnt = 0 only when the row is all zero
			alpha = float32(sum / float64(cnt))
			nonzero = true
		}
		out = out[:len(row)]
		for i, v := range row {
			out[i] = sel(v > delta, alpha, sel(v < -delta, -alpha, 0))
		}
	}
	if f.weights && !nonzero {
		return fmt.Errorf("%w: twn: all weights are zero", ErrParam)
	}
	return nil
}

func (f twnFunc) Grad(wrt int, dst, g, w, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("twn", wrt)
	}
	if err := checkGradLen("twn", dst, g, w); err != nil {
		return err
	}
	if f.Clip == 0 {
		copy(dst, g)
		return nil
	}
	parallel.Rows(len(w), 1, func(_, lo, hi int) { vec.KeepAbsLE(dst[lo:hi], g[lo:hi], w[lo:hi], f.Clip) })
	return nil
}

func init() {
	Register(TWN{}, "ternary α·{−1,0,+1}, Δ = 0.7·mean|W|, α = mean|W| over |W|>Δ, identity STE (TWN)")
}
