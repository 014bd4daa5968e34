// Package layers holds lowbit's quantizable layers: Dense, Conv2D, BatchNorm,
// pooling, activations, Dropout, Flatten and residual Add.
//
// Every layer keeps its latent fp32 parameters as struct fields (tensors
// shared by all graphs it is added to) and takes an optional weight quantizer
// and input quantizer from package ste; nil means full precision. Tensors are
// NHWC, conv weights OHWI ([out][kh][kw][in]) and dense weights [out][in].
//
// A layer adds itself to a Graph, which is either a training graph (batch
// statistics, dropout on) or an evaluation graph (running statistics, dropout
// off). Train and eval graphs are separate Gorgonia graphs that share the same
// weight values, so no global train/eval toggle exists. Each hot op (conv,
// dense, batch norm, pooling, loss) is our own kernel with its gradient next
// to it (internal/graphop), computed with internal/gemm.
package layers
