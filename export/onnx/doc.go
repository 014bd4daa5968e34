// Package onnx writes a frozen lowbit model (see
// [github.com/lowbit/lowbit/export.Freeze]) as a standard ONNX graph
// (opset 13) that ONNX Runtime runs with the training graph's answers.
//
// Every quantizer becomes standard ops that evaluate lowbit's float32
// operations in lowbit's order, so the quantized values are bit-identical:
//   - Input quantizers with integer codes (LSQ, DoReFa/uniform, PACT): a
//     Mul by lowbit's own float32 scale, Clip to the code range,
//     QuantizeLinear to uint8 codes (scale 1, so exact, and round half to
//     even like lowbit) and DequantizeLinear (and a Div for DoReFa's c/L).
//   - Sign inputs: Where(x ≥ 0, +1, −1), which keeps lowbit's
//     sign(0) = +1 (ONNX's Sign(0) is 0).
//   - Sign weights (XNOR, BNN, DoReFa 1-bit): int8 ±1 levels through
//     DequantizeLinear, and α·(x ⊛ ±1) as a Mul by the per-channel α after
//     the Conv or Gemm; with ±1 inputs the sums are exact integers, so the
//     output is the packed engine's fl(α·k).
//   - LSQ and ternary weights: int8 levels with a per-channel scale in
//     DequantizeLinear (axis 0); DoReFa k-bit weights: uint8 codes q with
//     2·(q/L) − 1 applied by Div, Mul and Sub.
//   - BatchNorm: folded to its per-channel affine x·a + b (lowbit's eval
//     formula), as Mul and Add.
//
// Float convolutions and Gemm differ from lowbit's only in summation
// order. The graph's input is NCHW float32, normalised as in training (the
// mean and std are in the metadata as lowbit.mean and lowbit.std); its
// output is the logits. A quantizer with no exact form (more than 256 input
// codes) gives an error wrapping [ErrUnsupported] that names the layer; the
// export never approximates.
//
// ONNX Runtime's default graph optimizations fold BatchNorm's Mul and Add
// into the preceding convolution's weights, which changes its float
// rounding; run with optimizations disabled to get the graph as written
// (the tests check both).
package onnx
