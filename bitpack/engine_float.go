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

// prepareFloat dequantizes the weights for the float kernel. A dense
// layer keeps them transposed, [k][cout], in blocks of columns
// (gemm.BlockColumns): gemm reads them in place, with no packing per
// call, and gives the bits of the graph's Sgemm on [cout][k] (each output
// is one accumulation chain in the same order either way).
func (l *linear) prepareFloat(ws *WeightSpec) {
	l.wf = ws.Dequantize(l.cout, l.k)
	switch {
	case l.dense:
		l.wf = gemm.BlockColumns(transpose(l.wf, l.cout, l.k), l.k, l.cout)
	case l.pointwise():
		// Packed once for gemm.SgemmPacked, which gives the graph's
		// Sgemm bits: Bi-Real's shortcuts spent as long repacking their
		// weights as multiplying. Should packing fail, floatForward
		// runs Sgemm on wf.
		l.wfp, _ = gemm.PackWeights(l.wf, l.cout, l.k)
	default:
		// Packed once for gemm.ConvForwardPacked, which gives
		// ConvForward's bits; a deep layer at batch 1 spends a sixth of
		// its time repacking otherwise. Should packing fail (the sizes
		// were checked when the layer was built), wfp stays nil and
		// floatForward runs ConvForward on wf.
		l.wfp, _ = gemm.PackConvWeights(l.wf, l.cout, l.k)
	}
}

// transpose returns the c×r transpose of the r×c row-major matrix a.
func transpose(a []float32, r, c int) []float32 {
	t := make([]float32, len(a))
	for i := range r {
		for j, v := range a[i*c : i*c+c] {
			t[j*r+i] = v
		}
	}
	return t
}

// quantized returns x through the layer's input quantizer, in the slot's
// float scratch (x itself when there is none).
func (l *linear) quantized(s *slot, x []float32) []float32 {
	if l.q.Kind == QuantNone {
		return x
	}
	s.f32 = growF(s.f32, len(x))
	xq := s.f32[:len(x)]
	l.q.Quantize(xq, x)
	return xq
}

// floatForward runs a float layer: y = W·q(x) + bias over rows output
// pixels.
func (l *linear) floatForward(s *slot, y, x []float32, n, rows int) error {
	xq := l.quantized(s, x)
	var err error
	switch {
	case l.dense:
		// W in gemm.BlockColumns' layout: at batch 1 gemm's one-row
		// kernel streams each block from start to end (reading [k][cout]
		// rows a block wide jumped a page per step; the ResNet-18
		// classifier's 2 MB took 0.22 ms in the network against 0.03
		// alone), with one Sgemm's bits (gemm's TestSgemmBlocks).
		err = gemm.SgemmBlocks(rows, l.k, l.cout, xq, l.wf, y)
	case l.pointwise() && l.wfp != nil:
		err = gemm.SgemmPacked(rows, xq, l.k, l.wfp, y, l.cout)
	case l.pointwise():
		err = gemm.Sgemm(false, true, rows, l.cout, l.k, 1, xq, l.k, l.wf, l.k, 0, y, l.cout)
	case l.wfp != nil:
		err = gemm.ConvForwardPacked(l.convShape(n), xq, l.wfp, y)
	default:
		err = gemm.ConvForward(l.convShape(n), xq, l.wf, l.cout, y)
	}
	if err != nil {
		return fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	l.addBias(y, rows)
	return nil
}
