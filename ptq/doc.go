// Package ptq is post-training quantization: it turns a trained
// full-precision model into a low-bit one without training its weights.
//
// The steps follow the Nagel et al. 2021 white paper ("A White Paper on
// Neural Network Quantization", https://arxiv.org/abs/2106.08295, §3):
//
//  1. BatchNorm is folded into the conv or dense layer before it:
//     W'_o = W_o·γ_o/√(σ²_o+ε), and the BatchNorm keeps only the shift
//     β'_o = β_o + (b_o − μ_o)·γ_o/√(σ²_o+ε) (its scale becomes exactly 1), so the
//     quantized weights are the ones the packed engine multiplies.
//  2. Calibration runs the folded float model on N training images through
//     the packed engine's float path and sets each quantized layer's input
//     step s = c/Q_P from a clip c: the maximum, a percentile or the
//     MSE-optimal clip (the ste.Scaled methods), or TensorRT's entropy method
//     (the clip whose 2048-bin histogram, quantized to the grid's levels,
//     has the least KL divergence from the float one; Migacz 2017).
//  3. Weights get a step per layer or per output channel (max or MSE clip)
//     and are rounded to nearest, or by AdaRound (Nagel et al. 2020,
//     https://arxiv.org/abs/2004.10568): a rectified sigmoid h(V) per weight
//     decides up or down, learned layer by layer to reconstruct the float
//     layer's output on the calibration patches under the regulariser
//     λ·Σ(1 − |2h(V) − 1|^β) with β annealed from 20 to 2. Only V is learned;
//     no weight is updated by gradient descent.
//  4. Bias correction (Nagel et al. 2019, https://arxiv.org/abs/1906.04721,
//     §4.2, empirical form) adds E[W·x] − E[W̃·q(x)] per output channel,
//     measured on the calibration set, to the layer's bias (or its folded
//     BatchNorm shift).
//
// The result is an ordinary model whose quantized layers use LSQ quantizers
// (weights per layer) or learned-step Scaled quantizers (weights per
// channel) holding the calibrated steps, so checkpoints, eval and export
// treat it like any trained quantized model.
package ptq
