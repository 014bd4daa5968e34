package onnx

import (
	"fmt"

	"github.com/lowbit/lowbit/bitpack"
)

// maxCodes is the number of codes a uint8 QuantizeLinear can hold.
const maxCodes = 256

// input appends the nodes of a layer's input quantizer to x and returns
// the quantized tensor. Each form evaluates the float32 operations of
// [bitpack.InputQuant.Quantize] (the training forward) in the same order,
// so ONNX Runtime computes the same values bit for bit:
//
//	sign:    Where(x >= 0, +1, −1)                        (ONNX Sign(0) is 0)
//	uniform: DQ(Q(Clip(x,0,1)·L)) / L                      round(L·clip(x,0,1))/L
//	lsq:     DQ_s,QN(Q_QN(Clip(x·fl(1/s), −QN, QP)))       round(clip(x·(1/s)))·s
//	pact:    DQ_fl(α/L)(Q(Clip(x,0,α)·fl(L/α)))            round(clip(x,0,α)·(L/α))·(α/L)
//
// Q is QuantizeLinear with scale 1 (exact: x/1 = x, round half to even,
// like lowbit) to uint8 codes, DQ is DequantizeLinear, (c − zp)·scale. The
// scale is applied by a Mul before Q rather than as Q's divisor because
// lowbit multiplies by the float32 reciprocal, and x·fl(1/s) and x/s
// differ in the last bit for some x.
func (b *builder) input(layer string, q bitpack.InputQuant, x string) (string, error) {
	if q.Kind == bitpack.QuantNone {
		return x, nil
	}
	if q.Kind == bitpack.QuantSign {
		ge := b.node("GreaterOrEqual", layer+"/sign_ge", []string{x, b.scalar(layer+"/zero", 0)})
		return b.node("Where", layer+"/sign", []string{ge, b.scalar(layer+"/plus1", 1), b.scalar(layer+"/minus1", -1)}), nil
	}
	if err := q.Validate(); err != nil {
		return "", fmt.Errorf("%w: layer %s: input quantizer %s: %v", ErrUnsupported, layer, q, err)
	}
	if !q.HasCodes() {
		return "", fmt.Errorf("%w: layer %s: input quantizer %s", ErrUnsupported, layer, q)
	}
	if q.MaxCode()+1 > maxCodes {
		return "", fmt.Errorf("%w: layer %s: input quantizer %s has %d codes, more than uint8 QuantizeLinear holds",
			ErrUnsupported, layer, q, q.MaxCode()+1)
	}
	clip := func(v string, lo, hi float32) string {
		return b.node("Clip", layer+"/clip", []string{v, b.scalar(layer+"/lo", lo), b.scalar(layer+"/hi", hi)})
	}
	mul := func(v string, c float32) string {
		return b.node("Mul", layer+"/mul", []string{v, b.scalar(layer+"/k", c)})
	}
	switch q.Kind {
	case bitpack.QuantUniform:
		l := float32(q.Levels)
		c := b.codes(layer, mul(clip(x, 0, 1), l), 0, 1)
		return b.node("Div", layer+"/div", []string{c, b.scalar(layer+"/levels", l)}), nil
	case bitpack.QuantLSQ:
		s := q.Step
		v := clip(mul(x, 1/s), -float32(q.QN), float32(q.QP))
		return b.codes(layer, v, uint8(q.QN), s), nil
	case bitpack.QuantPACT:
		a, l := q.Alpha, float32(q.Levels)
		return b.codes(layer, mul(clip(x, 0, a), l/a), 0, a/l), nil
	}
	return "", fmt.Errorf("%w: layer %s: input quantizer %s", ErrUnsupported, layer, q)
}

// codes quantizes v (already scaled and clipped to [−zp, 255−zp]) to uint8
// codes with zero point zp and dequantizes them with the given scale.
func (b *builder) codes(layer, v string, zp uint8, scale float32) string {
	z := b.uint8s(layer+"/x_zero_point", []uint8{zp})
	c := b.node("QuantizeLinear", layer+"/x_q", []string{v, b.scalar(layer+"/one", 1), z})
	return b.node("DequantizeLinear", layer+"/x_dq", []string{c, b.scalar(layer+"/x_scale", scale), z})
}

// weights adds a conv (OHWI in lowbit, OIHW in ONNX) or dense ([Out][In])
// weight tensor and returns the float tensor the layer multiplies by, and
// for sign weights the per-channel α that multiplies the layer's output:
//
//	f32:    the values as a float32 initializer
//	sign:   DequantizeLinear(int8 ±1), then α_o·(x ⊛ ±1) after the layer
//	int:    DequantizeLinear(int8 levels, per-channel s, axis 0)  level·s
//	dorefa: DequantizeLinear(uint8 codes q)/L·2 − 1               2·(q/L) − 1
//
// Sign weights keep XNOR-Net's form α·(sign(x) ⊛ sign(W)): with ±1 inputs
// the float sums are exact integers k and the output is fl(α·k), the
// packed engine's value, whatever order the runtime sums in.
func (b *builder) weights(ls *bitpack.LayerSpec) (w string, alpha []float32, err error) {
	o, k := ls.Out, ls.In
	dims := []int64{int64(o), int64(ls.In)}
	if ls.Kind == bitpack.LayerConv {
		k *= ls.KH * ls.KW
		dims = []int64{int64(o), int64(ls.In), int64(ls.KH), int64(ls.KW)}
	}
	ws := &ls.Weights
	base := ls.Name + "/w"
	switch ws.Enc {
	case bitpack.WeightsF32:
		if len(ws.Float) != o*k {
			return "", nil, fmt.Errorf("onnx: layer %s: %d weights, want %d", ls.Name, len(ws.Float), o*k)
		}
		return b.floats(base, toOIHW(ls, ws.Float), dims...), nil, nil
	case bitpack.WeightsSign, bitpack.WeightsInt:
		if len(ws.Levels) != o*k || (len(ws.Scale) != 1 && len(ws.Scale) != o) {
			return "", nil, fmt.Errorf("onnx: layer %s: %d levels and %d scales for %d×%d weights", ls.Name, len(ws.Levels), len(ws.Scale), o, k)
		}
		scale := make([]float32, o)
		for r := range scale {
			scale[r] = ws.Scale[min(r, len(ws.Scale)-1)]
		}
		if ws.Enc == bitpack.WeightsSign {
			alpha, scale = scale, make([]float32, o)
			for r := range scale {
				scale[r] = 1
			}
		}
		q := b.int8s(base+"_q", toOIHW(ls, ws.Levels), dims...)
		zp := b.int8s(base+"_zero_point", make([]int8, o), int64(o))
		return b.node("DequantizeLinear", base, []string{q, b.floats(base+"_scale", scale, int64(o)), zp}, intAttr("axis", 0)), alpha, nil
	case bitpack.WeightsDoReFa:
		if len(ws.Levels) != o*k || ws.Bits < 1 || ws.Bits > 7 {
			return "", nil, fmt.Errorf("onnx: layer %s: %d dorefa codes of %d bits for %d×%d weights", ls.Name, len(ws.Levels), ws.Bits, o, k)
		}
		lv := toOIHW(ls, ws.Levels)
		codes := make([]uint8, len(lv))
		for i, v := range lv {
			codes[i] = uint8(v)
		}
		q := b.uint8s(base+"_q", codes, dims...)
		f := b.node("DequantizeLinear", base+"_codes", []string{q, b.scalar(base+"_one", 1), b.uint8s(base+"_zero_point", []uint8{0})})
		f = b.node("Div", base+"_div", []string{f, b.scalar(base+"_levels", float32(int(1)<<ws.Bits-1))})
		f = b.node("Mul", base+"_mul", []string{f, b.scalar(base+"_two", 2)})
		return b.node("Sub", base, []string{f, b.scalar(base+"_one", 1)}), nil, nil
	}
	return "", nil, fmt.Errorf("%w: layer %s: weight encoding %q", ErrUnsupported, ls.Name, ws.Enc)
}

// toOIHW reorders conv weights from lowbit's OHWI to ONNX's OIHW; dense
// weights are already [Out][In].
func toOIHW[T any](ls *bitpack.LayerSpec, v []T) []T {
	if ls.Kind != bitpack.LayerConv {
		return append([]T(nil), v...)
	}
	o, kh, kw, in := ls.Out, ls.KH, ls.KW, ls.In
	out := make([]T, len(v))
	for a := 0; a < o; a++ {
		for y := 0; y < kh; y++ {
			for x := 0; x < kw; x++ {
				for c := 0; c < in; c++ {
					out[((a*in+c)*kh+y)*kw+x] = v[((a*kh+y)*kw+x)*in+c]
				}
			}
		}
	}
	return out
}
