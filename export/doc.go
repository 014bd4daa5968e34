// Package export turns a trained model into a packed [bitpack.Model]: it
// walks the model's layers, runs each weight quantizer on the latent
// weights to obtain the exact weights the training graph uses, stores
// them in their smallest exact encoding (1-bit signs with a per-channel
// or per-layer scale, k-bit LSQ or DoReFa levels, or float32), maps each
// input quantizer to the engine's bit-exact reproduction (checked on a
// probe), and picks the fastest kernel the pair allows: XNOR-popcount for
// sign inputs and ±α weights, bit-serial for 1–2-bit input codes, the
// u8×s8 integer GEMM for up to 8-bit codes, float otherwise.
//
// A quantizer the engine cannot reproduce exactly (one whose output
// depends on batch statistics or per-sample scales) gives an error
// wrapping [ErrUnsupported] that names the layer and the quantizer; the
// export never produces a silently different model. The equivalence test
// checks the engine against the training graph on all of MNIST's test
// set for every supported recipe.
package export
