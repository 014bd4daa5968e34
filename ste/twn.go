package ste

import (
	"fmt"
	"math"
	"strings"
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
	PerChannel bool    // one Δ and α per output row instead of per layer
	Clip       float32 // gradient clip; 0 means none (identity STE)
}

func (TWN) Name() string { return "twn" }
func (t TWN) String() string {
	var args []string
	if t.PerChannel {
		args = append(args, "perchannel")
	}
	if t.Clip != 0 {
		args = append(args, fmt.Sprintf("clip=%g", t.Clip))
	}
	return spec("twn", args)
}
func (TWN) Bits() int { return 2 }

func (t TWN) Build(tg Target) (Func, error) {
	if !(t.Clip >= 0) || math.IsInf(float64(t.Clip), 0) {
		return nil, fmt.Errorf("%w: twn: clip=%g, want a finite number ≥ 0", ErrParam, t.Clip)
	}
	if len(tg.Shape) == 0 || tg.Shape[0] <= 0 {
		return nil, fmt.Errorf("%w: twn: empty shape", ErrParam)
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
		var sum float64
		cnt := 0
		for _, v := range row {
			if a := abs(v); a > delta {
				sum += float64(a)
				cnt++
			}
		}
		var alpha float32
		if cnt > 0 { // cnt = 0 only when the row is all zero
			alpha = float32(sum / float64(cnt))
			nonzero = true
		}
		for i, v := range row {
			switch {
			case v > delta:
				out[i] = alpha
			case v < -delta:
				out[i] = -alpha
			default:
				out[i] = 0
			}
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
	for i, v := range w {
		if abs(v) <= f.Clip {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
	return nil
}

func init() {
	Register("twn", "ternary α·{−1,0,+1}, Δ = 0.7·mean|W|, α = mean|W| over |W|>Δ, identity STE (TWN); params: perchannel, clip", func(a Args) (Quantizer, error) {
		pc, err := a.Bool("perchannel", false)
		if err != nil {
			return nil, err
		}
		c, err := a.Float("clip", 0)
		if err != nil {
			return nil, err
		}
		if c < 0 {
			return nil, fmt.Errorf("%w: twn: clip=%g, want ≥ 0", ErrParam, c)
		}
		return TWN{PerChannel: pc, Clip: float32(c)}, nil
	})
}

// ---- helpers shared by twn, ttq, pact, kmeans, scaled and dorefagrad ----

// spec formats name(arg1,arg2,...), or name alone without args.
func spec(name string, args []string) string {
	if len(args) == 0 {
		return name
	}
	return name + "(" + strings.Join(args, ",") + ")"
}

// checkLenOf is checkLen naming the quantizer.
func checkLenOf(name string, y, x []float32) error {
	if len(y) != len(x) {
		return fmt.Errorf("ste: %s: output length %d, input length %d", name, len(y), len(x))
	}
	return nil
}

// checkGradLen checks a gradient w.r.t. the input: len(dst) == len(g) == len(x).
func checkGradLen(name string, dst, g, x []float32) error {
	if len(dst) != len(x) || len(g) != len(x) {
		return fmt.Errorf("ste: %s: gradient lengths dst %d, upstream %d, input %d differ", name, len(dst), len(g), len(x))
	}
	return nil
}

// groupLen is the length of one statistics group: the whole tensor, or one row of c.Rows.
func groupLen(name string, n int, perRow bool, c Ctx) (int, error) {
	if n == 0 {
		return 0, fmt.Errorf("ste: %s: empty input", name)
	}
	if !perRow {
		return n, nil
	}
	if c.Rows <= 0 || n%c.Rows != 0 {
		return 0, fmt.Errorf("ste: %s: %d values do not split into %d rows", name, n, c.Rows)
	}
	return n / c.Rows, nil
}

// scalarParams checks that p holds exactly the given number of one-element parameters.
func scalarParams(name string, p [][]float32, n int) error {
	if len(p) != n {
		return fmt.Errorf("ste: %s: %d parameters, want %d", name, len(p), n)
	}
	for i, v := range p {
		if len(v) != 1 {
			return fmt.Errorf("ste: %s: parameter %d has %d values, want 1", name, i, len(v))
		}
	}
	return nil
}

// positive checks that a learnable scalar is a positive finite number.
func positive(name, param string, v float32) error {
	if !(v > 0) || math.IsInf(float64(v), 0) {
		return fmt.Errorf("%w: %s: %s=%g, want a positive finite number", ErrParam, name, param, v)
	}
	return nil
}
