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
//	sign:   Where(x >= 0, +1, −1)     (ONNX Sign(0) is 0; lowbit's sign(0) is +1)
//	codes:  c = round(clip(x·mul, lo, hi)), value c·num/den:
//	        Mul(mul) → Clip(lo, hi) → QuantizeLinear(1, −lo) → DequantizeLinear(num, −lo) [→ Div(den)]
//
// QuantizeLinear has scale 1 (exact: x/1 = x, then round half to even, as
// lowbit rounds) and uint8 codes with zero point −lo; DequantizeLinear
// computes (c + lo)·num. The scale is a Mul before QuantizeLinear rather
// than QuantizeLinear's divisor because lowbit multiplies by a float32
// reciprocal, and x·fl(1/s) and x/s differ in the last bit for some x.
func (b *builder) input(layer string, q bitpack.InputQuant, x string) (string, error) {
	if q.Kind == bitpack.QuantNone {
		return x, nil
	}
	if q.Kind == bitpack.QuantSign {
		ge := b.node("GreaterOrEqual", layer+"/sign_ge", []string{x, b.scalar(layer+"/zero", 0)})
		return b.node("Where", layer+"/sign", []string{ge, b.scalar(layer+"/plus1", 1), b.scalar(layer+"/minus1", -1)}), nil
	}
	lq, err := linearForm(q)
	if err != nil {
		return "", fmt.Errorf("%w: layer %s: input quantizer %s: %v", ErrUnsupported, layer, q, err)
	}
	if lq.hi-lq.lo+1 > maxCodes {
		return "", fmt.Errorf("%w: layer %s: input quantizer %s has %d codes, more than uint8 QuantizeLinear holds",
			ErrUnsupported, layer, q, lq.hi-lq.lo+1)
	}
	v := b.node("Mul", layer+"/x_mul", []string{x, b.scalar(layer+"/x_mul_k", lq.mul)})
	v = b.node("Clip", layer+"/x_clip", []string{v, b.scalar(layer+"/x_lo", float32(lq.lo)), b.scalar(layer+"/x_hi", float32(lq.hi))})
	z := b.uint8s(layer+"/x_zero_point", []uint8{uint8(-lq.lo)})
	c := b.node("QuantizeLinear", layer+"/x_q", []string{v, b.scalar(layer+"/x_one", 1), z})
	v = b.node("DequantizeLinear", layer+"/x_dq", []string{c, b.scalar(layer+"/x_scale", lq.num), z})
	if lq.den != 1 {
		v = b.node("Div", layer+"/x_div", []string{v, b.scalar(layer+"/x_den", lq.den)})
	}
	return v, nil
}

// linear is an input quantizer with integer codes in lowbit's float32
// order: c = round(clip(x·mul, lo, hi)), value (c·num)/den.
type linear struct {
	mul, num, den float32
	lo, hi        int
}

// linearForm reads q's codes and scales from its descriptor (package
// internal/qfunc): c = round(clip(x·Mul, Lo, Hi)), value (c·Num)/Den, the
// float32 operations the training forward and the packed engine evaluate.
func linearForm(q bitpack.InputQuant) (linear, error) {
	if err := q.Validate(); err != nil {
		return linear{}, err
	}
	if q.Kind != bitpack.QuantLinear {
		return linear{}, fmt.Errorf("kind %q has no integer codes", q.Kind)
	}
	return linear{mul: q.Mul, lo: int(q.Lo), hi: int(q.Hi), num: q.Num, den: q.Den}, nil
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
