package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/lowbit/lowbit/bitpack"
)

// batchNorm folds BatchNorm to its per-channel affine y = x·a + b with
// a = float32(1/√(var+eps))·γ and b = β − μ·a, the training graph's eval
// formula in its float32 order (as bitpack computes it), as Mul and Add.
func (b *builder) batchNorm(ls *bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	c := sh[0]
	if len(ls.Beta) != c || len(ls.Mean) != c || len(ls.Var) != c || (ls.Gamma != nil && len(ls.Gamma) != c) {
		return "", nil, fmt.Errorf("onnx: layer %s: parameters for %d channels, input %v", ls.Name, len(ls.Beta), sh)
	}
	a, off := make([]float32, c), make([]float32, c)
	for j := range c {
		v := float64(ls.Var[j]) + float64(ls.Eps)
		if !(v > 0) {
			return "", nil, fmt.Errorf("onnx: layer %s: channel %d: var+eps = %g", ls.Name, j, v)
		}
		a[j] = float32(1 / math.Sqrt(v))
		if ls.Gamma != nil {
			a[j] *= ls.Gamma[j]
		}
		off[j] = ls.Beta[j] - ls.Mean[j]*a[j]
	}
	dims := []int64{int64(c)}
	if len(sh) == 3 {
		dims = []int64{int64(c), 1, 1}
	}
	y := b.node("Mul", ls.Name+"/scale", []string{x, b.floats(ls.Name+"/a", a, dims...)})
	return b.node("Add", ls.Name, []string{y, b.floats(ls.Name+"/b", off, dims...)}), sh, nil
}

func (b *builder) pool(ls *bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	if len(sh) != 3 {
		return "", nil, fmt.Errorf("onnx: layer %s: pooling input %v, want C,H,W", ls.Name, sh)
	}
	max := ls.Kind == bitpack.LayerMaxPool
	if ls.Global {
		if max {
			return "", nil, fmt.Errorf("%w: layer %s: global max pooling", ErrUnsupported, ls.Name)
		}
		return b.node("GlobalAveragePool", ls.Name, []string{x}), shape{sh[0], 1, 1}, nil
	}
	k, st := ls.Size, ls.Stride
	if k < 1 || st < 1 || k > sh[1] || k > sh[2] {
		return "", nil, fmt.Errorf("onnx: layer %s: window %d stride %d on input %v", ls.Name, k, st, sh)
	}
	op := "AveragePool"
	if max {
		op = "MaxPool"
	}
	y := b.node(op, ls.Name, []string{x}, intsAttr("kernel_shape", int64(k), int64(k)), intsAttr("strides", int64(st), int64(st)))
	return y, shape{sh[0], (sh[1]-k)/st + 1, (sh[2]-k)/st + 1}, nil
}

// residual adds the body's output to the shortcut's (nil: the input).
func (b *builder) residual(ls *bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	if len(ls.Body) == 0 {
		return "", nil, fmt.Errorf("onnx: layer %s: empty residual body", ls.Name)
	}
	y, ysh, err := b.layers(ls.Body, x, sh)
	if err != nil {
		return "", nil, err
	}
	s, ssh := x, sh
	if ls.Shortcut != nil {
		if s, ssh, err = b.layers(ls.Shortcut, x, sh); err != nil {
			return "", nil, err
		}
	}
	if !slices.Equal(ysh, ssh) {
		return "", nil, fmt.Errorf("onnx: layer %s: body gives %v, shortcut gives %v", ls.Name, ysh, ssh)
	}
	return b.node("Add", ls.Name, []string{y, s}), ysh, nil
}
