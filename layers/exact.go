package layers

import (
	"math"
	"sync"

	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/ste"
)

// intLinear is how an evaluation graph computes a conv or dense layer whose
// quantized inputs and weights are integer codes times a scale, as the
// packed engine's integer kernels do (bitpack: xnor, bitserial, int8):
//
//	y[r][o] = float32(S_o · float64(D[r][o])) (+ bias, in float32)
//
// where D = Σ_k c_k·l_k is the exact integer dot product of the input
// codes c (sign: ±1; a Linear input descriptor: q(x)/step, the signed code)
// and the weight levels l, and S_o = float64(w_o)·step_x with w_o the
// weight row's float32 scale: |w| of a row whose weights share one
// magnitude (XNOR-Net's ±α_o, sign weights), else the float32 step of a
// Linear weight descriptor (LSQ). The integer products are summed by sgemm
// in float32, exactly, because every partial sum is an integer below 2^24;
// then one float64 product rounds to float32 once. The general path (sgemm
// over the dequantized float products) rounds at every partial sum, in an
// order that depends on the GEMM's blocking, so values that feed the next
// sign or rounding quantizer differed from the engine's by a few ulps.
//
// Training graphs keep the general path (training is unchanged); layers
// that do not fit (other encodings, codes above 255, sums that could reach
// 2^24) fall back to it in evaluation too.
type intLinear struct {
	iq, wq *quantizer
}

// newIntLinear returns the integer semantics for an evaluation graph's
// layer with input quantizer iq and weight quantizer wq, or nil.
func newIntLinear(g *Graph, iq, wq *quantizer) *intLinear {
	if g.Train || iq == nil || wq == nil {
		return nil
	}
	return &intLinear{iq: iq, wq: wq}
}

func paramData(qz *quantizer) [][]float32 {
	ps := make([][]float32, len(qz.params))
	for i, p := range qz.params {
		ps[i] = p.Data()
	}
	return ps
}

// inputStep returns the input descriptor's step and largest |code|, or ok
// = false when the inputs are not codes the engine's integer kernels take.
func (e *intLinear) inputStep() (step float64, maxAbs int, sign, ok bool) {
	d, ok, err := ste.Infer(e.iq.f, paramData(e.iq))
	switch {
	case !ok || err != nil:
		return 0, 0, false, false
	case d.Kind == ste.DescSign:
		return 1, 1, true, true
	case d.HasCodes() && d.MaxCode() <= 255:
		return d.Scale(), max(-int(d.Lo), int(d.Hi)), false, true
	}
	return 0, 0, false, false
}

// weightLevels writes the weight levels of w (o rows of k) into lv and
// returns each row's float32 scale and the largest |level|, or ok = false.
// Sign inputs take sign weights only (the engine's xnor kernel).
func (e *intLinear) weightLevels(lv, w []float32, o, k int, signIn bool) (scale []float32, maxAbs int, ok bool) {
	scale = make([]float32, o)
	if signRows(lv, scale, w, o, k) {
		return scale, 1, true
	}
	if signIn {
		return nil, 0, false
	}
	d, ok, err := ste.Infer(e.wq.f, paramData(e.wq))
	if !ok || err != nil || !d.HasCodes() {
		return nil, 0, false
	}
	s := float32(d.Scale())
	for i, v := range w {
		l := math.RoundToEven(float64(v) / float64(s))
		if math.Abs(l) > 128 || float32(l)*s != v {
			return nil, 0, false
		}
		lv[i] = float32(l)
		maxAbs = max(maxAbs, int(math.Abs(l)))
	}
	for r := range scale {
		scale[r] = s
	}
	return scale, maxAbs, true
}

// signRows writes ±1 levels and each row's magnitude when every row of w
// has one magnitude (as the exporter's sign encoding requires).
func signRows(lv, scale, w []float32, o, k int) bool {
	for r := range o {
		row := w[r*k : (r+1)*k]
		a := abs32(row[0])
		for i, v := range row {
			if abs32(v) != a {
				return false
			}
			lv[r*k+i] = 1
			if v < 0 {
				lv[r*k+i] = -1
			}
		}
		scale[r] = a
	}
	return true
}

// forward computes y = a·wᵀ with the integer semantics and reports whether
// it did (false: the caller runs the general path).
func (e *intLinear) forward(y, a, w []float32, m, k, o int) (bool, error) {
	if e == nil || k == 0 {
		return false, nil
	}
	step, maxC, signIn, ok := e.inputStep()
	if !ok {
		return false, nil
	}
	lv, release := scratch(o * k)
	defer release()
	scale, maxL, ok := e.weightLevels(lv, w, o, k, signIn)
	if !ok || float64(k)*float64(maxC)*float64(maxL) >= 1<<24 {
		return false, nil
	}
	if signIn {
		if err := gemm.Sgemm(false, true, m, o, k, 1, a, k, lv, k, 0, y, o); err != nil {
			return false, err
		}
	} else if err := codeGEMM(y, a, lv, m, k, o, step); err != nil {
		return false, err
	}
	s := make([]float64, o)
	for j := range s {
		s[j] = float64(scale[j]) * step
	}
	for r := range m {
		row := y[r*o : (r+1)*o]
		for j, d := range row {
			row[j] = float32(s[j] * float64(d))
		}
	}
	return true, nil
}

// codeRows is how many rows of input codes codeGEMM converts at a time.
const codeRows = 1024

// codeGEMM computes y = c·lvᵀ where c = a/step are the input codes, in
// blocks of codeRows rows (a bounded buffer instead of a copy of a).
func codeGEMM(y, a, lv []float32, m, k, o int, step float64) error {
	buf, release := scratch(min(m, codeRows) * k)
	defer release()
	// a = code·step within a few ulps, |code| <= 255: the product with
	// the reciprocal is within 1e-4 of the code, far from a tie.
	inv := 1 / step
	for r0 := 0; r0 < m; r0 += codeRows {
		r1 := min(m, r0+codeRows)
		c := buf[:(r1-r0)*k]
		for i, v := range a[r0*k : r1*k] {
			c[i] = float32(math.Round(float64(v) * inv))
		}
		if err := gemm.Sgemm(false, true, r1-r0, o, k, 1, c, k, lv, k, 0, y[r0*o:r1*o], o); err != nil {
			return err
		}
	}
	return nil
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// exactScratch holds the temporary float buffers of the evaluation graphs'
// integer paths (weight levels, code blocks, unfolded inputs).
var exactScratch sync.Pool

// scratch returns a buffer of n floats (old contents are garbage) and its release.
func scratch(n int) ([]float32, func()) {
	p, _ := exactScratch.Get().(*[]float32)
	if p == nil || cap(*p) < n {
		b := make([]float32, n)
		p = &b
	}
	buf := (*p)[:n]
	return buf, func() { exactScratch.Put(p) }
}
