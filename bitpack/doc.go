// Package bitpack holds the packed low-bit inference kernels of lowbit:
// sign packing, the XNOR-popcount GEMM, binary convolution with fused
// BatchNorm+sign thresholds, bit-serial low-bit GEMMs, an u8×s8 integer
// GEMM and packed max-pooling. It imports only the standard library and
// golang.org/x/sys/cpu.
//
// # Bit convention
//
// A ±1 value is one bit: bit 1 means −1 and bit 0 means +1, with
// sign(0) = +1 (x >= 0 packs to bit 0). Values are packed along the
// innermost axis (the input channels of NHWC activations and of OHWI
// weights) into little-endian uint64 words: value k of a row is bit k%64
// of word k/64. A row of K values takes ceil(K/64) words and the padding
// bits are zero in both operands, so they cancel under XOR and
//
//	dot(a, w) = Σ_k a_k·w_k = K − 2·popcount(a XOR w)
//
// where K counts the real values only.
//
// # Kernels
//
//   - [GEMM]: out[m][n] = Σ_k a[m][k]·w[n][k] over ±1 values, as int32.
//     Activations are a row-major [Matrix]; weights are prepacked by
//     [PackPanels] into panels of [PanelWidth] output channels,
//     interleaved word by word so the micro-kernel loads PanelWidth
//     weight words per input word.
//   - [Conv]: NHWC binary convolution with OHWI weights through an
//     explicit bit-im2col and [GEMM]. [PadOne] pads with +1 (bit 0);
//     [PadZero] pads with 0 by an edge correction: with the padded taps
//     packed as +1 the GEMM yields dot₁ = dot + Σ_{invalid taps} w, so
//     dot = dot₁ − (C·nInvalid − 2·negInvalid[n]) where negInvalid[n]
//     counts the −1 weights of output channel n at the invalid taps.
//   - [FoldBN] turns alpha·dot+bias → BatchNorm → sign into one integer
//     threshold and a flip flag per channel: sign = +1 ⇔ (dot >= Thr) ≠ Flip.
//     [Conv.ForwardSign] applies it inside the micro-kernel and writes
//     packed bits for the next binary layer.
//   - [BitSerialGEMM]: x·y = Σ_m Σ_k 2^(m+k)·popcount(x_m AND y_k) over
//     unsigned bit planes, with the affine maps of [Code] for binary and
//     offset (DoReFa) weight levels.
//   - [GEMMU8S8]: u8×s8 → s32 with the exact VPDPBUSD semantics
//     (non-saturating, wrapping int32 accumulation).
//   - [MaxPool]: max of ±1 values is +1 when any is +1; with bit 1 = −1 that
//     is the bitwise AND of the packed words.
//
// # Dispatch
//
// On amd64 with AVX-512F and AVX-512 VPOPCNTDQ the binary kernels run
// Go-assembly ZMM kernels (VPXORQ/VPANDQ + VPOPCNTQ + VPADDQ); with
// AVX-512 VNNI the integer GEMM runs VPDPBUSD; with AVX-512F and DQ the
// engine's elementwise rows (BatchNorm, activations, residual sums, max,
// sign packing) run ZMM loops whose min/max operand orders keep Go's
// results for ±0 and NaN (a NaN's payload may differ). Elsewhere, or when the
// environment variable LOWBIT_NOASM=1 is set at program start, portable
// pure-Go kernels (math/bits.OnesCount64) compute bit-identical results.
//
// # Inference engine
//
// [Model] runs a whole network exported from training (package export):
// typed layers over NHWC float32 batches, each conv or dense layer on the
// kernel its quantizers allow — [KernelXNOR] (sign inputs, ±α weights),
// [KernelBitSerial] (1–2-bit input codes), [KernelInt8] (up to 8-bit codes,
// LSQ) or [KernelFloat] — plus BatchNorm, ReLU, HardTanh, max/average
// pooling, Flatten and residual sums. [InputQuant] is a training input
// quantizer's descriptor (ste.Infer), evaluated by the same scalar code
// (internal/qfunc) as the training forward pass. [Load], [Decode]
// and [Model.Save] read and write the versioned, checksummed model file
// (see engine_format.go); Predict is safe for concurrent use.
//
// Between consecutive KernelXNOR layers (conv → conv, dense → dense, conv
// → flatten → dense) joined only by BatchNorm, ReLU/HardTanh, max pooling
// and Flatten, the engine runs on packed bits: when a Model is built
// (NewModel, Load, Decode) the thresholds of the fused BatchNorm+sign are
// folded from the stored BatchNorm parameters, weight scales and biases —
// one integer threshold and flip per output channel, found by evaluating
// the engine's own float32 operations at every reachable dot, so they
// reproduce the float path exactly (sign(±0) = +1, logits bit for bit).
// The first layer writes packed signs through [Conv.ForwardSign], max
// pooling is a bitwise AND (OR for channels whose BatchNorm after the pool
// has a negative scale) and a flatten whose channels are not a multiple
// of 64 repacks the bits; a chain whose folded function is not monotone or
// meets a NaN stays on the float path. [Model.Trace] always runs the float
// path. [FoldBN] is the standalone fold of the documented float64
// formula; the engine does not use it.
//
// The integer layers avoid unfolding their input where the geometry
// allows (engine_int.go): the input codes are computed once per pixel
// (AVX-512, bit-identical to the training quantizer), padded, and the int8
// VNNI and bit-serial kernels read each tap row of the window in place,
// continuing their exact integer sums across tap rows. With VNNI and
// AVX-512 BW, int8 3×3 stride-1 convolutions whose channels are multiples
// of 64 run Winograd F(2×2, 3×3) in integers (wino.go): 16 u8×s8 GEMMs
// per 2×2 output tile instead of 36 multiplies, and the same accumulators
// as the direct kernel, exactly (the transformed weights and inputs are
// checked to fit s8 and u8 when the layer is built). The integer
// epilogue float32(scale·float64(acc)) + bias keeps its per-element
// operations. Other shapes unfold the codes (byte im2col) and pack bit
// planes 64 codes at a time. Float layers (engine_float.go) call the
// training graph's own kernels, gemm.ConvForward and gemm.Sgemm, with the
// weights laid out once at build: a conv's filter packed for
// gemm.ConvForwardPacked, a dense layer's matrix transposed so gemm's
// one-row kernel reads it in place at batch 1.
//
// In the fused list an integer layer also runs the BatchNorm and
// activation after it, and the residual sum and activation when it ends a
// residual body, in its epilogue, one AVX-512 pass per block of rows
// (engine_intfuse.go); when its output feeds only the next int8 conv it
// writes that layer's padded input codes (the codes pass's operations on
// the same float values) instead of the float map.
//
// The float glue between binary layers is fused too (engine_ew.go): a
// KernelXNOR layer with float output runs the BatchNorm and activation
// after it, the residual sum when it ends a residual body, the activation
// after the block and the sign packing for the next binary conv in one
// epilogue per row of output pixels; activations before a binary layer
// run as its input is packed; the stem's BatchNorm and activation run as
// the max pool reads them. A HardTanh right before a sign packing drops
// out (it changes no sign), and a residual block of the top-level list
// writes its sum over its shortcut's values, so the residual stream stays
// in one buffer, in cache. Each element gets the unfused path's float32
// operations in its order, so the logits stay bit-identical. With the
// assembly kernels a binary conv reads its input map in place (an
// implicit GEMM over kernel-row segments; only border tiles are
// unfolded), and each layer is one parallel region over rows.
//
// # Exactness
//
// The engine gives the training graph's evaluation forward bit for bit on
// the exported ResNet-20 (xnor, bnn, lsq-w4a4) and LeNet-5 models
// (export's TestCIFAREquivalence and TestEquivalence compare every conv
// and dense layer's input and output and every logit). Each layer keeps
// the float32 operations of the graph, in the same order:
//
//   - KernelFloat conv and dense (the first conv, the classifier): the
//     functions the graph's evaluation forward calls, gemm.ConvForward
//     for a convolution and gemm.Sgemm for a dense or pointwise layer,
//     over the dequantized weights; then + bias. Packing the filter once
//     (gemm.ConvForwardPacked) and transposing a dense matrix keep these
//     bits: gemm sums every output of a forward product in one order,
//     whatever the batch size, thread count or operand layout (gemm's
//     TestConvForwardPacked and TestSgemmRowsIndependent).
//   - KernelXNOR: y = float32(α_o·float32(dot)) (xnorValue), then + bias.
//   - KernelInt8 and KernelBitSerial: y = float32(S_o·float64(acc)) with
//     S_o = float64(weight scale_o)·(input step Num/Den, float64), then +
//     bias. The graph computes these layers the same way (package layers,
//     intLinear: exact integer dot products, one rounding); summing the
//     dequantized float products instead rounds at every partial sum and
//     moved values that feed the next sign or rounding by a few ulps
//     (99.85–99.90% argmax agreement on CIFAR-10 before).
//   - BatchNorm: a = float32(1/√(float64(var)+float64(eps)))·γ,
//     b = β − mean·a, y = float32(v·a) + b (bnValue: the product rounded
//     before the add, never fused).
//   - ReLU max(v, 0), HardTanh min(max(v, −1), 1), sign(±0) = +1.
//   - Residual: one float32 add per element, body + shortcut.
//   - Average pooling (global included): the first window element copied,
//     the others added in window order, then one multiplication by
//     float32(1/(kh·kw)).
//   - Fused binary chains: thresholds found by evaluating the float path's
//     own operations (see above), so they change no bit.
//
// Not bit-exact: integer-kernel layers the graph cannot compute as exact
// integers — weights without a per-row magnitude or a Linear step (DoReFa
// multi-bit weights on the bit-serial kernel, per-channel steps, ternary)
// and layers whose Σ|codes·levels| could reach 2^24 (8-bit input codes
// with more than 513 inputs per output). There the graph sums float products
// and the engine integers: logits agree within the tolerances of export's
// TestEquivalence, and a value within an ulp of a rounding boundary can
// take the neighbouring code.
//
// # Operation counts
//
// Benchmarks report GOPS = 2·M·N·K / time (one multiply-accumulate counts
// as two operations, K counts values, not words), comparable to sgemm
// GFLOPS.
package bitpack
