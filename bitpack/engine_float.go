package bitpack

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/gemm"
)

// The float layer path of the engine (KernelFloat): the first conv, the
// classifier and full-precision models. It calls the functions the
// training graph's evaluation forward calls for the same layer —
// gemm.ConvForward for a convolution, gemm.Sgemm for a dense or pointwise
// layer, then one float32 add of the bias — so the float sums are the
// graph's bit for bit (export's equivalence tests check it). A faster
// kernel here would have to be the graph's kernel too.

// prepareFloat dequantizes the weights for the float kernel.
func (l *linear) prepareFloat(ws *WeightSpec) {
	l.wf = ws.Dequantize(l.cout, l.k)
}

// floatForward runs a float layer: y = W·q(x) + bias over rows output
// pixels.
func (l *linear) floatForward(s *slot, y, x []float32, n, rows int) error {
	xq := x
	if l.q.Kind != QuantNone {
		s.f32 = growF(s.f32, len(x))
		xq = s.f32[:len(x)]
		l.q.Quantize(xq, x)
	}
	var err error
	if l.dense || l.pointwise() {
		err = gemm.Sgemm(false, true, rows, l.cout, l.k, 1, xq, l.k, l.wf, l.k, 0, y, l.cout)
	} else {
		err = gemm.ConvForward(l.convShape(n), xq, l.wf, l.cout, y)
	}
	if err != nil {
		return fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	l.addBias(y, rows)
	return nil
}
