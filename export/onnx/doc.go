// Package onnx writes a frozen lowbit model (see [export.Freeze]) as a
// standard ONNX graph (opset 13) that ONNX Runtime runs with the training
// graph's answers.
//
// Every quantizer becomes standard ops that evaluate lowbit's float32
// operations in lowbit's order, so the quantized values are bit-identical:
// input quantizers with integer codes become Clip, a Mul by lowbit's own
// float32 scale, QuantizeLinear to uint8 codes (scale 1: exact, and round
// half to even like lowbit) and DequantizeLinear; sign inputs become
// Where(x ≥ 0, +1, −1), which keeps lowbit's sign(0) = +1 (ONNX's Sign(0)
// is 0); sign and LSQ weights are int8 levels with a per-channel scale in
// DequantizeLinear (axis 0); DoReFa k-bit weights are uint8 codes q with
// 2·(q/L) − 1 applied by Div, Mul and Sub. BatchNorm is folded to its
// per-channel affine (Mul and Add, lowbit's eval formula). Convolutions
// and Gemm run in float32 on the dequantized values, as in the training
// graph; only their summation order differs from lowbit's.
//
// The graph's input is NCHW float32, normalised as in training (the mean
// and std are recorded in the metadata as lowbit.mean and lowbit.std);
// its output is the logits. A quantizer with no exact form (more than 256
// input codes) gives an error wrapping [ErrUnsupported] naming the layer;
// the export never approximates.
package onnx
