package onnx_test

import (
	"fmt"
	"strings"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export/onnx"
	"github.com/lowbit/lowbit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// A binary dense layer (sign inputs, ±α weights) becomes
// Where(x ≥ 0, +1, −1), a Gemm with the ±1 levels and a Mul by α (the
// input, NCHW [N, 4, 1, 1], is first flattened in lowbit's NHWC order).
func ExampleEncode() {
	bm, err := bitpack.NewModel(bitpack.Spec{Input: []int{1, 1, 4}, Classes: 2, Layers: []bitpack.LayerSpec{{
		Kind: bitpack.LayerDense, Name: "dense1", Kernel: bitpack.KernelXNOR, In: 4, Out: 2,
		Input:   bitpack.InputQuant{Kind: bitpack.QuantSign},
		Weights: bitpack.WeightSpec{Enc: bitpack.WeightsSign, Bits: 1, Levels: []int8{1, -1, 1, 1, -1, -1, 1, -1}, Scale: []float32{0.5, 0.25}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := onnx.Encode(bm)
	if err != nil {
		fmt.Println(err)
		return
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		fmt.Println(err)
		return
	}
	var ops []string
	for _, n := range m.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	fmt.Println("opset", m.GetOpsetImport()[0].GetVersion())
	fmt.Println(strings.Join(ops, " → "))
	// Output:
	// opset 13
	// Transpose → Flatten → GreaterOrEqual → Where → DequantizeLinear → Gemm → Mul → Identity → Identity
}
