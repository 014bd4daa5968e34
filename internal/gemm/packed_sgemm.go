package gemm

import "fmt"

// A pointwise (1×1, stride 1, unpadded) convolution over NHWC data is the
// plain product Sgemm(false, true, m, o, k, 1, x, k, w, k, 0, out, o): its
// im2col matrix is the input itself. A frozen model multiplies by the
// same w call after call, so PackWeights packs it once, as PackConvWeights
// does for other filters, and SgemmPacked runs the driver on those panels.

// PackWeights packs the n×k matrix w (Sgemm's B with transB, [n][k]) for
// SgemmPacked, whatever its size. w must not change while the PackedB is
// in use.
func PackWeights(w []float32, n, k int) (*PackedB, error) {
	if n < 1 || k < 1 {
		return nil, fmt.Errorf("gemm: PackWeights: %d×%d matrix: %w", n, k, ErrShape)
	}
	if err := checkMatrix("B", w, n, k, k); err != nil {
		return nil, err
	}
	pb := &PackedB{kern: active.Load(), w: w, o: n, k: k}
	pb.pack()
	return pb, nil
}

// SgemmPacked sets c = a·wᵀ for the m×k matrix a (leading dimension lda)
// and w packed by PackWeights (or PackConvWeights): Sgemm(false, true, m,
// n, k, 1, a, lda, w, k, 0, c, ldc) bit for bit, with the same panels the
// driver would pack on every call (a PackedB made for another kernel, or
// one left unpacked, runs that Sgemm).
func SgemmPacked(m int, a []float32, lda int, pb *PackedB, c []float32, ldc int) error {
	kern := active.Load()
	if pb.data == nil || pb.kern != kern || useBLAS.Load() {
		return Sgemm(false, true, m, pb.o, pb.k, 1, a, lda, pb.w, pb.k, 0, c, ldc)
	}
	if m < 0 {
		return fmt.Errorf("gemm: SgemmPacked: negative size m=%d: %w", m, ErrShape)
	}
	if err := checkMatrix("A", a, m, pb.k, lda); err != nil {
		return err
	}
	if err := checkMatrix("C", c, m, pb.o, ldc); err != nil {
		return err
	}
	if m == 0 {
		return nil
	}
	g := newCall(kern, false, true, m, pb.o, pb.k, a, lda, pb.w, pb.k, c, ldc)
	g.pb = pb
	g.run(Threads())
	return nil
}
