package layers

import (
	"fmt"

	"github.com/lowbit/lowbit/ste"
)

// Accessors for export: the built quantizers of a layer and the exact
// quantized weights its forward pass uses.

func (qz *quantizer) built() (ste.Func, []*Param) {
	if qz == nil {
		return nil, nil
	}
	return qz.f, qz.params
}

// paramValues copies the current parameter values (so a quantizer that
// initialises a zero parameter cannot change the layer).
func paramValues(ps []*Param) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p.Data()...)
	}
	return out
}

func quantizedWeights(name string, qz *quantizer, w *Param, rows int) ([]float32, error) {
	src := w.Data()
	out := make([]float32, len(src))
	if qz == nil {
		copy(out, src)
		return out, nil
	}
	if err := qz.f.Forward(out, src, paramValues(qz.params), ste.Ctx{Rows: rows}); err != nil {
		return nil, fmt.Errorf("layers: %s: weights %s: %w", name, qz.q, err)
	}
	return out, nil
}

// WeightQuantizer returns the built weight quantizer and its parameters
// (nil, nil in full precision).
func (l *Conv2D) WeightQuantizer() (ste.Func, []*Param) { return l.wq.built() }

// InputQuantizer returns the built input quantizer and its parameters
// (nil, nil in full precision or before the layer has seen its input shape).
func (l *Conv2D) InputQuantizer() (ste.Func, []*Param) { return l.iq.built() }

// QuantizedWeights returns q_w(W), the weights the forward pass uses
// ([Out][Kernel][Kernel][In]); a copy of W in full precision.
func (l *Conv2D) QuantizedWeights() ([]float32, error) {
	return quantizedWeights(l.name, l.wq, l.W, l.cfg.Out)
}

// WeightQuantizer returns the built weight quantizer and its parameters
// (nil, nil in full precision).
func (l *Dense) WeightQuantizer() (ste.Func, []*Param) { return l.wq.built() }

// InputQuantizer returns the built input quantizer and its parameters
// (nil, nil in full precision).
func (l *Dense) InputQuantizer() (ste.Func, []*Param) { return l.iq.built() }

// QuantizedWeights returns q_w(W), the weights the forward pass uses
// ([Out][In]); a copy of W in full precision.
func (l *Dense) QuantizedWeights() ([]float32, error) {
	return quantizedWeights(l.name, l.wq, l.W, l.cfg.Out)
}
