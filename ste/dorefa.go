package ste

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
	"github.com/lowbit/lowbit/internal/vec"
)

// DoReFa is DoReFa-Net's quantizer (Zhou et al. 2016, https://arxiv.org/abs/1606.06160),
// following the authors' tensorpack dorefa.py. On weights:
//
//	k = 1:  q(w) = sign(w)·E,  E = mean|w| over the layer (constant)      q'(w) = 1
//	k > 1:  q(w) = 2·quantize_k( tanh(w)/(2·max|tanh(w)|) + ½ ) − 1
//	        q'(w): identity through round; the gradient flows through tanh and the layer max
//	        (ties of the max share its gradient equally, as TensorFlow's reduce_max does).
//
// On inputs (activations):
//
//	q(x)  = quantize_k(clip(x,0,1)),  quantize_k(r) = round((2^k−1)·r)/(2^k−1)
//	q'(x) = 1{0 ≤ x ≤ 1}
//
// Bits ≥ 32 means full precision (identity).
type DoReFa struct {
	Bits int `q:"bits,zero,min=1,max=32"` // bit width k; 0 means 1 on weights and 2 on inputs
}

func (DoReFa) Name() string     { return "dorefa" }
func (d DoReFa) String() string { return Format(d) }
func (DoReFa) Symmetric() bool  { return false }
func (DoReFa) DataInit() bool   { return false }

// BitsFor is the bit width on the given role (Bits = 0: 1 on weights, 2 on inputs).
func (d DoReFa) BitsFor(r Role) int {
	switch {
	case d.Bits != 0:
		return d.Bits
	case r == Weights:
		return 1
	}
	return 2
}

func (d DoReFa) Build(t Target) (Func, error) {
	if _, err := Resolve(d); err != nil {
		return nil, err
	}
	k := d.BitsFor(t.Role)
	switch {
	case k >= 32:
		return identity{}, nil
	case t.Role == Inputs:
		return levelsFunc{name: "dorefa", desc: qfunc.Levels(levelsOf(k)), clipped: true}, nil
	case k == 1:
		return dorefaBinary{}, nil
	default:
		return dorefaWeights{levels: float32(levelsOf(k))}, nil
	}
}

type identity struct{ stateless }

func (identity) Infer([][]float32) (qfunc.Desc, error) { return qfunc.Desc{}, nil }

func (identity) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	copy(y, x)
	return checkLen(y, x)
}
func (identity) Grad(wrt int, dst, g, _, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("identity", wrt)
	}
	copy(dst, g)
	return nil
}

type dorefaBinary struct{ stateless }

func (dorefaBinary) Forward(y, w []float32, _ [][]float32, _ Ctx) error {
	if err := checkLen(y, w); err != nil {
		return err
	}
	e := meanAbs(w)
	for i, v := range w {
		y[i] = sign(v) * e
	}
	return nil
}

func (dorefaBinary) Grad(wrt int, dst, g, _, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("dorefa", wrt)
	}
	copy(dst, g)
	return nil
}

type dorefaWeights struct {
	stateless
	levels float32
}

func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }

// dorefaTanh is the memory of one DoReFa weight node (Ctx.State): u = tanh(w)
// and M = max|u| of its last forward pass, which the gradient of that pass
// reuses instead of evaluating tanh again (the step's dominant cost). src and
// len(u) name the weight tensor they were computed from.
type dorefaTanh struct {
	u   []float32
	m   float32
	src *float32
	ok  bool
}

// NewState returns the memory of one graph node.
func (dorefaWeights) NewState() any { return &dorefaTanh{} }

// fill sets u = tanh(w) and m = max|u|, over parallel chunks (each element is
// independent and max does not depend on the order).
func (t *dorefaTanh) fill(w []float32) error {
	if cap(t.u) < len(w) {
		t.u = make([]float32, len(w))
	}
	t.u = t.u[:len(w)]
	var parts [parallel.MaxParts]float32
	n := parallel.Rows(len(w), 1, func(part, lo, hi int) {
		parts[part] = tanhMax(t.u[lo:hi], w[lo:hi])
	})
	t.m = 0
	for _, v := range parts[:n] {
		t.m = max(t.m, v)
	}
	t.src, t.ok = unsafe.SliceData(w), false
	if t.m == 0 {
		return fmt.Errorf("ste: dorefa: all weights are zero")
	}
	t.ok = true
	return nil
}

// tanhMax sets u = tanh(w) (tanh32) and returns max|u|. Weights with
// 0 < |w| < 0.625, nearly all, take math.Tanh's rational formula from
// vec.TanhRational (eight at a time), the others tanh32; when this build's
// math.Tanh rounds differently from the formula's separate operations (fused
// multiply-adds), tanhFormulaOK is false and every weight takes tanh32.
func tanhMax(u, w []float32) float32 {
	var m float32
	u = u[:len(w)]
	if tanhFormulaOK {
		vec.TanhRational(u, w)
	}
	for i, v := range w {
		if x := abs(v); !tanhFormulaOK || !(x < 0.625 && x != 0) {
			u[i] = tanh32(v)
		}
		if a := abs(u[i]); a > m {
			m = a
		}
	}
	return m
}

// tanhFormulaOK: vec.TanhRational gives math.Tanh's bits on a spread of
// weights in (−0.625, 0.625), so tanhMax may use it.
var tanhFormulaOK = func() bool {
	w := make([]float32, 4096)
	for i := range w {
		w[i] = 0.625 * float32(2*i-len(w)+1) / float32(len(w)+1) * float32(1+i%7) / 7
	}
	u := make([]float32, len(w))
	vec.TanhRational(u, w)
	for i, v := range w {
		if u[i] != tanh32(v) {
			return false
		}
	}
	return true
}()

// tanhOf returns tanh(w) and max|u| for w: from the node's state when its last
// forward pass saw this tensor, else computed (into the state when there is one).
func tanhOf(w []float32, c Ctx, forward bool) (*dorefaTanh, error) {
	t, _ := c.State.(*dorefaTanh)
	if t == nil {
		t = &dorefaTanh{}
	} else if !forward && t.ok && t.src == unsafe.SliceData(w) && len(t.u) == len(w) {
		return t, nil
	}
	return t, t.fill(w)
}

func (d dorefaWeights) Forward(y, w []float32, _ [][]float32, c Ctx) error {
	if err := checkLen(y, w); err != nil {
		return err
	}
	t, err := tanhOf(w, c, true)
	if err != nil {
		return err
	}
	// y = 2·quantizeK(u/(2M) + ½) − 1, each operation in the scalar order.
	m2 := 2 * t.m
	parallel.Rows(len(w), 1, func(_, lo, hi int) { vec.TanhLevels(y[lo:hi], t.u[lo:hi], m2, d.levels) })
	return nil
}

// normalize writes the smooth part r = u/(2M) + ½.
func (t *dorefaTanh) normalize(r []float32) {
	m := t.m
	for i, u := range t.u {
		r[i] = u/(2*m) + 0.5
	}
}

// dorefaNormalize is the smooth part r = tanh(w)/(2·max|tanh(w)|) + ½.
func dorefaNormalize(r, w []float32) error {
	var t dorefaTanh
	if err := t.fill(w); err != nil {
		return err
	}
	t.normalize(r)
	return nil
}

// Grad: with u = tanh(w), M = max|u|, r = u/(2M)+½ and q = 2·quantize(r)−1 (STE through round),
//
//	∂L/∂w_i = g_i·(1−u_i²)/M − [i ∈ argmax]/|argmax| · sign(u_i)(1−u_i²) · Σ_j g_j·u_j / M².
//
// u and M come from the node's state when its forward pass computed them.
func (d dorefaWeights) Grad(wrt int, dst, g, w, _ []float32, _ [][]float32, c Ctx) error {
	if wrt != 0 {
		return errWRT("dorefa", wrt)
	}
	if err := checkGradLen("dorefa", dst, g, w); err != nil {
		return err
	}
	t, err := tanhOf(w, c, false)
	if err != nil {
		return err
	}
	m := t.m
	parallel.Rows(len(w), 1, func(_, lo, hi int) { vec.TanhGrad(dst[lo:hi], g[lo:hi], t.u[lo:hi], m) })
	var gu float64 // in index order, as the scalar loop summed it
	ties := 0
	for i, u := range t.u {
		gu += float64(g[i]) * float64(u)
		ties += b2i(abs(u) == m)
	}
	shared := float32(gu) / (m * m) / float32(ties)
	for i, u := range t.u {
		if abs(u) == m {
			dst[i] -= sign(u) * (1 - u*u) * shared
		}
	}
	return nil
}

func init() {
	Register(DoReFa{}, "DoReFa-Net: weights tanh-normalised k-bit (k=1: sign·mean|w|), inputs quantize_k(clip(x,0,1))")
}
