package onnx

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
)

// weightSpecs returns rows×k weights in every encoding, with random levels.
func weightSpecs(rows, k int, rng *rand.Rand) map[string]bitpack.WeightSpec {
	n := rows * k
	f := make([]float32, n)
	sign, lsq, dorefa, ternary := make([]int8, n), make([]int8, n), make([]int8, n), make([]int8, n)
	for i := range n {
		f[i] = float32(rng.NormFloat64())
		sign[i] = int8(2*rng.IntN(2) - 1)
		lsq[i] = int8(rng.IntN(16) - 8)
		dorefa[i] = int8(rng.IntN(4))
		ternary[i] = int8(rng.IntN(3) - 1)
	}
	alpha := make([]float32, rows)
	for r := range alpha {
		alpha[r] = float32(0.01 + rng.Float64())
	}
	return map[string]bitpack.WeightSpec{
		"f32":          {Enc: bitpack.WeightsF32, Float: f},
		"sign-channel": {Enc: bitpack.WeightsSign, Bits: 1, Levels: sign, Scale: alpha},
		"sign-layer":   {Enc: bitpack.WeightsSign, Bits: 1, Levels: sign, Scale: []float32{0.0731}},
		"int4-layer":   {Enc: bitpack.WeightsInt, Bits: 4, Levels: lsq, Scale: []float32{0.0373}},
		"int4-channel": {Enc: bitpack.WeightsInt, Bits: 4, Levels: lsq, Scale: alpha},
		"dorefa-2bit":  {Enc: bitpack.WeightsDoReFa, Bits: 2, Levels: dorefa, Scale: []float32{1.0 / 3}},
		"ternary":      {Enc: bitpack.WeightsInt, Bits: 2, Levels: ternary, Scale: []float32{0.29}},
	}
}

// TestWeightsExact: on one-hot inputs a conv or dense layer outputs its
// weights, so ONNX Runtime's outputs must equal lowbit's dequantized
// weights exactly; the conv case also checks the OHWI → OIHW reordering.
func TestWeightsExact(t *testing.T) {
	ortRunner(t)
	const rows, kh, kw, cin = 3, 3, 2, 4
	k := kh * kw * cin
	rng := rand.New(rand.NewPCG(3, 4))
	for name, ws := range weightSpecs(rows, k, rng) {
		for _, kind := range []string{bitpack.LayerConv, bitpack.LayerDense} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				ls := bitpack.LayerSpec{Kind: kind, Name: "l", Kernel: bitpack.KernelFloat, In: k, Out: rows, KH: 1, KW: 1, Stride: 1, Weights: ws}
				if kind == bitpack.LayerConv {
					ls.In, ls.KH, ls.KW = cin, kh, kw
				}
				bm, err := bitpack.NewModel(bitpack.Spec{Input: []int{kh, kw, cin}, Classes: rows, Layers: []bitpack.LayerSpec{ls}})
				if err != nil {
					t.Fatal(err)
				}
				raw, err := Encode(bm)
				if err != nil {
					t.Fatal(err)
				}
				x := make([]float32, k*k) // k one-hot NHWC samples
				for i := range k {
					x[i*k+i] = 1
				}
				got := ortRun(t, raw, optDisabled, toNCHW(x, k, kh, kw, cin), k, k, cin, kh, kw)
				want := ws.Dequantize(rows, k)
				for i := range k {
					for o := range rows {
						if g, w := got[i*rows+o], want[o*k+i]; g != w {
							t.Fatalf("weight [%d][%d]: ONNX Runtime %g, lowbit %g", o, i, g, w)
						}
					}
				}
			})
		}
	}
}

func TestEncodeNil(t *testing.T) {
	if _, err := Encode(nil); err == nil || !strings.HasPrefix(err.Error(), "onnx: ") {
		t.Fatalf("Encode(nil): %v, want an onnx: error", err)
	}
}

// TestEncodeRefuses: a layer whose quantizer has no exact ONNX form is
// refused with an error naming it.
func TestEncodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    bitpack.InputQuant
	}{
		{"lsq-9bit", lsqQ(0.01, 0, 511)},
		{"uniform-10bit", levelsQ(1023)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bm, err := bitpack.NewModel(bitpack.Spec{Input: []int{1, 1, 4}, Classes: 2, Layers: []bitpack.LayerSpec{{
				Kind: bitpack.LayerDense, Name: "dense7", Kernel: bitpack.KernelFloat, In: 4, Out: 2, Input: tc.q,
				Weights: bitpack.WeightSpec{Enc: bitpack.WeightsF32, Float: make([]float32, 8)}}}})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.onnx")
			err = Write(path, bm)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "layer dense7") {
				t.Fatalf("Write: %v, want ErrUnsupported naming dense7", err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a refused export left %s behind (%v)", path, err)
			}
		})
	}
}
