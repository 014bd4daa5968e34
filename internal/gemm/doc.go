// Package gemm is lowbit's dense float32 matrix multiply and the im2col
// transforms that turn convolutions into it.
//
// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices,
// BLAS style. It follows the Goto/BLIS design (Goto and van de Geijn,
// "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 2008;
// https://doi.org/10.1145/1356052.1356053): blocks of op(B) and op(A) are
// packed into contiguous micro-panels held in L2 and L1, and a
// register-blocked micro-kernel computes one small tile of C at a time.
//
// The micro-kernels are generated Go assembly (gen_kernels.go): an 8×32
// AVX-512 tile and a 6×16 AVX2+FMA tile, chosen at init from
// golang.org/x/sys/cpu. A portable 4×4 Go kernel serves other CPUs and
// architectures; setting LOWBIT_NOASM=1 in the environment forces it.
// Kernel reports which one is in use. The AVX-512 kernels also take
// strides and column masks, so an operand that feeds only a few tiles
// (LeNet's N = 20 forward, its K = 36864 weight gradient) is read in place
// instead of packed, and edge tiles are written directly.
//
// A call runs on up to Threads() goroutines from a small fixed pool,
// splitting C into row or column bands, or, for a transposed A only,
// splitting K and summing when C is small and K long (the weight gradient
// of a convolution). Forward products (A not transposed, ConvForward) sum
// every element of C in one order whatever m, the thread count and B's
// layout, so a frozen model gives each sample the same bits at any batch
// size; the m = 1 kernels (a classifier at batch 1) and a filter packed
// once (PackConvWeights, ConvForwardPacked) keep those bits. Small
// problems stay on the calling goroutine. Packing buffers are pooled, so
// steady-state calls allocate nothing.
//
// Convolutions avoid a materialised im2col (convgemm.go): the driver packs
// im2col panels straight from the image; filters that fit in cache run
// directly on the zero-padded image (convdirect.go: all kernel rows of a
// tile in one micro-kernel call, batch-1 images split into bands of
// output rows), and weight gradients of layers with few output channels
// read the image in place too (convdirect_grad.go, convgrad_inplace.go).
//
// Convolutions use the NHWC layout with OHWI filters:
//
//	out[N*OH*OW, OutC] = Im2col(x)[N*OH*OW, KH*KW*C] × Wᵀ
//
// and Col2im, the adjoint of Im2col, scatters the column gradient back
// into the input gradient.
//
// Building with -tags openblas (cgo, libopenblas-dev) sets OpenBLAS to
// single-threaded cblas_sgemm and routes Sgemm to it after the argument
// checks, so training runs on OpenBLAS for comparison (LOWBIT_OPENBLAS=0
// keeps our kernels; UseOpenBLAS switches at run time). The default build
// is pure Go without cgo.
package gemm
