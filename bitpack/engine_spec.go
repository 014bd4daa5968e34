package bitpack

import (
	"fmt"
	"math"
)

// Layer kinds of [LayerSpec].
const (
	LayerConv      = "conv"
	LayerDense     = "dense"
	LayerBatchNorm = "batchnorm"
	LayerReLU      = "relu"
	LayerHardTanh  = "hardtanh"
	LayerMaxPool   = "maxpool"
	LayerAvgPool   = "avgpool"
	LayerFlatten   = "flatten"
	LayerResidual  = "residual"
)

// Kernels of conv and dense layers.
const (
	// KernelFloat: fp32 im2col + sgemm on the dequantized weights, with the
	// input quantizer applied in float (first/last layers, and quantizers
	// without an integer path).
	KernelFloat = "float"
	// KernelXNOR: sign inputs packed in bits, ±1 weight levels, XNOR-popcount
	// conv with zero padding by edge correction; y = Scale[o]·dot + bias.
	// When its output reaches the next KernelXNOR layer through BatchNorm,
	// ReLU/HardTanh, max pooling and Flatten only, that stretch is folded
	// at load time into per-channel integer thresholds (see [Model]).
	KernelXNOR = "xnor"
	// KernelBitSerial: 1–2-bit unsigned input codes, ±1 or ±1/±3 weight
	// levels, [BitSerialGEMM]; y = Scale[o]·InputScale·dot + bias.
	KernelBitSerial = "bitserial"
	// KernelInt8: up to 8-bit input codes (offset to unsigned) and int8
	// weight levels, [GEMMU8S8]; y = Scale[o]·InputScale·(dot − off·Σlevels) + bias.
	KernelInt8 = "int8"
)

// Weight encodings of [WeightSpec].
const (
	// WeightsF32: raw float32 values, in Float.
	WeightsF32 = "f32"
	// WeightsSign: Levels ±1 (1 bit each), value = Scale[row]·level.
	WeightsSign = "sign"
	// WeightsInt: signed Bits-bit Levels, value = float32(level)·Scale[row].
	WeightsInt = "int"
	// WeightsDoReFa: DoReFa k-bit weights (k = Bits), stored as codes
	// q ∈ [0, 2^k−1] with value = 2·(q/L) − 1 in float32 (L = 2^k − 1) and
	// integer level 2q − L; Scale holds 1/L.
	WeightsDoReFa = "dorefa"
)

// WeightSpec holds the weights of a conv ([Out][KH][KW][In], OHWI) or
// dense ([Out][In]) layer.
type WeightSpec struct {
	Enc    string
	Bits   int       // bits per level (int, dorefa); 1 for sign
	Float  []float32 // f32: the values
	Levels []int8    // sign: ±1; int: levels; dorefa: codes q
	Scale  []float32 // one per output row, or one for the layer
}

// LayerSpec describes one layer. Conv and dense layers use In, Out, KH,
// KW, Stride, Pad (dense: KH = KW = 1, In = input features), Kernel,
// Input, Weights and Bias; batchnorm uses Gamma (nil: 1), Beta, Mean,
// Var and Eps with y = x·a + b, a = float32(1/√(var+eps))·γ, b = β − μ·a
// (the training graph's eval formula); pooling uses Size, Stride and
// Global; residual sums Body and Shortcut (nil: identity).
type LayerSpec struct {
	Kind   string
	Name   string
	Kernel string

	In, Out     int
	KH, KW      int
	Stride, Pad int
	Input       InputQuant
	Weights     WeightSpec
	Bias        []float32

	Gamma, Beta, Mean, Var []float32
	Eps                    float32

	Size   int
	Global bool

	Body, Shortcut []LayerSpec
}

// ModelInfo is descriptive metadata carried in the file header.
type ModelInfo struct {
	Name    string `json:"name,omitempty"`    // model name, e.g. "lenet5"
	Recipe  string `json:"recipe,omitempty"`  // training recipe
	Dataset string `json:"dataset,omitempty"` // training dataset
	// RawInput marks a model whose input is not an image normalised by
	// Mean and Std (a raw tensor): export.Write then accepts empty Mean
	// and Std, and image classification (package classify) refuses it.
	RawInput bool `json:"raw_input,omitempty"`
	// Mean and Std (one per input channel) normalise pixels in [0, 1]:
	// x = (p/255 − Mean)/Std. Files written by export.Write always carry
	// them unless RawInput; older files may not.
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
	// TestAcc is the checkpoint's test accuracy (0 when unknown).
	TestAcc float64 `json:"test_acc,omitempty"`
	// ClassNames names the classes in label order (empty when unknown).
	ClassNames []string `json:"class_names,omitempty"`
}

// Spec describes a whole model: per-sample input shape (H, W, C), the
// number of classes and the layers in order. A Spec stores only the
// trained parameters (weight levels and scales, biases, BatchNorm
// statistics); the fused BatchNorm+sign thresholds between binary layers
// are not stored but folded from them when the Model is built, exactly
// reproducing the float path (see [Model]).
type Spec struct {
	Info    ModelInfo
	Input   []int
	Classes int
	Layers  []LayerSpec
}

const maxValues = 1 << 28 // bound on one sample's activation count and on weight counts

func checkCount(dims ...int) (int, bool) {
	n := 1
	for _, d := range dims {
		if d < 1 || d > maxValues || n > maxValues/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func rowScale(w *WeightSpec, rows int) error {
	if len(w.Scale) != rows && len(w.Scale) != 1 {
		return fmt.Errorf("%d weight scales for %d output rows", len(w.Scale), rows)
	}
	for _, s := range w.Scale {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("weight scale %g", s)
		}
	}
	return nil
}

// Check validates w for rows×k weights: the encoding's level range, the
// value and scale counts, finite scales.
func (w *WeightSpec) Check(rows, k int) error { return w.check(rows, k) }

// check validates w for rows×k weights.
func (w *WeightSpec) check(rows, k int) error {
	n := rows * k
	switch w.Enc {
	case WeightsF32:
		if len(w.Float) != n {
			return fmt.Errorf("f32 weights: %d values, want %d×%d", len(w.Float), rows, k)
		}
		return nil
	case WeightsSign:
		if w.Bits != 1 || len(w.Levels) != n {
			return fmt.Errorf("sign weights: %d levels of %d bits, want %d×%d of 1 bit", len(w.Levels), w.Bits, rows, k)
		}
		for _, l := range w.Levels {
			if l != 1 && l != -1 {
				return fmt.Errorf("sign weights: level %d", l)
			}
		}
	case WeightsInt:
		if w.Bits < 1 || w.Bits > 8 || len(w.Levels) != n {
			return fmt.Errorf("int weights: %d levels of %d bits, want %d×%d of 1–8 bits", len(w.Levels), w.Bits, rows, k)
		}
		lo, hi := -(1 << (w.Bits - 1)), 1<<(w.Bits-1)-1
		if w.Bits == 1 {
			lo, hi = -1, 1
		}
		for _, l := range w.Levels {
			if int(l) < lo || int(l) > hi {
				return fmt.Errorf("int weights: level %d outside %d bits", l, w.Bits)
			}
		}
	case WeightsDoReFa:
		if w.Bits < 1 || w.Bits > 7 || len(w.Levels) != n {
			return fmt.Errorf("dorefa weights: %d codes of %d bits, want %d×%d of 1–7 bits", len(w.Levels), w.Bits, rows, k)
		}
		for _, l := range w.Levels {
			if l < 0 || int(l) >= 1<<w.Bits {
				return fmt.Errorf("dorefa weights: code %d outside %d bits", l, w.Bits)
			}
		}
		if len(w.Scale) != 1 {
			return fmt.Errorf("dorefa weights: %d scales, want 1", len(w.Scale))
		}
		return nil
	default:
		return fmt.Errorf("unknown weight encoding %q", w.Enc)
	}
	return rowScale(w, rows)
}

func (w *WeightSpec) scale(row int) float32 {
	if len(w.Scale) == 1 {
		return w.Scale[0]
	}
	return w.Scale[row]
}

// Dequantize returns the rows×k float weights exactly as the training pass
// used them (w must be valid for rows×k).
func (w *WeightSpec) Dequantize(rows, k int) []float32 {
	if w.Enc == WeightsF32 {
		return w.Float
	}
	out := make([]float32, rows*k)
	l := float32(int(1)<<w.Bits - 1)
	for r := 0; r < rows; r++ {
		s := w.scale(r)
		for i, v := range w.Levels[r*k : (r+1)*k] {
			switch w.Enc {
			case WeightsSign:
				out[r*k+i] = s * float32(v)
			case WeightsInt:
				out[r*k+i] = float32(v) * s
			case WeightsDoReFa:
				out[r*k+i] = 2*(float32(v)/l) - 1
			}
		}
	}
	return out
}

// intLevels returns the integer levels used by the integer kernels (dorefa:
// 2q − L) and the per-row scale that multiplies them.
func (w *WeightSpec) intLevels(rows, k int) (levels []int8, scale []float64, ok bool) {
	scale = make([]float64, rows)
	switch w.Enc {
	case WeightsSign, WeightsInt:
		for r := range scale {
			scale[r] = float64(w.scale(r))
		}
		return w.Levels, scale, true
	case WeightsDoReFa:
		l := int(1)<<w.Bits - 1
		levels = make([]int8, len(w.Levels))
		for i, q := range w.Levels {
			levels[i] = int8(2*int(q) - l)
		}
		for r := range scale {
			scale[r] = 1 / float64(l)
		}
		return levels, scale, true
	}
	return nil, nil, false
}

// bytesOnDisk is the size of the encoded weights in the file.
func (w *WeightSpec) bytesOnDisk() int {
	switch w.Enc {
	case WeightsF32:
		return 4 * len(w.Float)
	}
	return (len(w.Levels)*w.Bits+7)/8 + 4*len(w.Scale)
}
