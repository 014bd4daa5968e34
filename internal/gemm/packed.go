package gemm

import "fmt"

// PackedB is a convolution filter packed once, in the panels the GEMM
// driver would pack it into on every call: a frozen model's layers (the
// inference engine's float convolutions) multiply by the same weights
// call after call, and for a deep layer at batch 1 repacking them costs a
// sixth of the layer. Packing moves no arithmetic, so ConvForwardPacked
// gives ConvForward's bits.
type PackedB struct {
	kern *microKernel
	w    []float32 // the caller's [o][k] filter, for the paths that do not pack it
	o, k int
	// data is nil (not packed), or K blocks of kcBlock rows, each all
	// ceil(o/nr) panels, or for a filter the direct convolution takes
	// (direct), the panels over all of K that convDirect packs per call.
	data   []float32
	direct bool
}

// PackConvWeights packs the OHWI filter w ([o][KH*KW*C], k floats per
// output channel) for ConvForwardPacked. w must not change while the
// PackedB is in use. A filter the direct convolution takes is packed as
// that path packs it on every call (ResNet-20's 64-channel 3×3 filter
// took 13 µs of a 51 µs conv at batch 1, before the work splits over
// threads).
func PackConvWeights(w []float32, o, k int) (*PackedB, error) {
	if o < 1 || k < 1 {
		return nil, fmt.Errorf("gemm: PackConvWeights: %d×%d filter: %w", o, k, ErrShape)
	}
	if err := checkMatrix("B", w, o, k, k); err != nil {
		return nil, err
	}
	kern := active.Load()
	pb := &PackedB{kern: kern, w: w, o: o, k: k}
	if kern.genRows != nil && k*o <= maxDirectFilter {
		nr := kern.nr
		pb.data = make([]float32, ceilDiv(o, nr)*nr*k)
		pb.direct = true
		packB(pb.data, true, w, k, 0, k, 0, o, nr)
		return pb, nil
	}
	pb.pack()
	return pb, nil
}

// pack fills pb.data with pb.w in the panels of pb.kern.
func (pb *PackedB) pack() {
	nr := pb.kern.nr
	npad := ceilDiv(pb.o, nr) * nr
	pb.data = make([]float32, npad*pb.k)
	for pc := 0; pc < pb.k; pc += kcBlock {
		kc := min(kcBlock, pb.k-pc)
		packB(pb.data[pc*npad:], true, pb.w, pb.k, pc, kc, 0, pb.o, nr)
	}
}

// ConvForwardPacked is ConvForward with the filter packed by
// PackConvWeights, bit for bit.
func ConvForwardPacked(s ConvShape, x []float32, pb *PackedB, out []float32) error {
	if err := pb.checkConv("ConvForwardPacked", s, x, out); err != nil {
		return err
	}
	kern := active.Load()
	if pb.data == nil || pb.kern != kern || useBLAS.Load() || directOK(kern, s, pb.o) != pb.direct {
		return ConvForward(s, x, pb.w, pb.o, out)
	}
	m := s.N * s.OutH() * s.OutW()
	if pb.direct {
		directRun(kern, s, x, pb.data, pb.o, out, 1, nil)
		return nil
	}
	g := newCall(kern, false, true, m, pb.o, pb.k, nil, pb.k, pb.w, pb.k, out, pb.o)
	g.ca = convOperand{s: s, x: x}
	g.pb = pb
	g.run(Threads())
	return nil
}

// checkConv checks a convolution of shape s of x by pb's filter into
// out for fn: K matches the filter, x and out fit.
func (pb *PackedB) checkConv(fn string, s ConvShape, x, out []float32) error {
	if k := s.KH * s.KW * s.C; k != pb.k {
		return fmt.Errorf("gemm: %s: %+v has K = %d, the filter %d: %w", fn, s, k, pb.k, ErrShape)
	}
	if err := convCheck(fn, s, x, pb.o); err != nil {
		return err
	}
	return checkMatrix("C", out, s.N*s.OutH()*s.OutW(), pb.o, pb.o)
}

// packedPanel returns the packed B micro-panel of columns j.. (a multiple
// of nr) for the K block starting at pc.
func (pb *PackedB) packedPanel(pc, kc, j int) []float32 {
	npad := ceilDiv(pb.o, pb.kern.nr) * pb.kern.nr
	return pb.data[pc*npad+j*kc:]
}
