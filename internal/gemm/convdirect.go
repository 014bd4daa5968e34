package gemm

import (
	"errors"
	"fmt"
	"sync"
)

// Direct convolution for layers whose filter fits in cache (ResNet-20's,
// ResNet-18's first conv and first stage). The input rows a band of
// output rows needs are copied once into a zero-padded buffer; then for a
// run of mr output pixels in one output row, kernel row r's part of their
// im2col rows is the padded image itself, rows StrideW*C floats apart.
// The strided micro-kernel reads that in place, so nothing is packed but
// the filter, once per call. Each output tile sums all KH kernel rows in
// one call (genRows: one accumulation chain in im2col's column order, C
// written once).

// maxDirectFilter is the largest filter, in floats, that takes the direct
// path: its packed copy is swept once per mr output pixels, so it must
// stay in L2.
const maxDirectFilter = 1 << 16

// directOK reports whether ConvForward may run s with o output channels
// directly on kern.
func directOK(kern *microKernel, s ConvShape, o int) bool {
	return kern.genRows != nil && s.KH*s.KW*s.C*o <= maxDirectFilter
}

// ErrNotDirect reports a convolution that ConvForwardRows cannot run
// directly (its shape or this CPU's kernels do not allow it); nothing was
// computed.
var ErrNotDirect = errors.New("gemm: not a direct convolution")

// ConvForwardRows is ConvForward (the same bits) for a convolution the
// direct path takes, calling done(n, y0, y1) as soon as output rows
// y0..y1 of image n are complete, while they are still in cache: a
// consumer (a pooling layer) can read them at once instead of after the
// whole output has gone through memory. The ranges are disjoint, cover
// every output row once, and start at multiples of step; done may run
// on several goroutines at once (gemm's parts), so it must only touch
// what its rows own. Other shapes return ErrNotDirect.
func ConvForwardRows(s ConvShape, x []float32, pb *PackedB, out []float32, step int, done func(n, y0, y1 int)) error {
	if err := pb.checkConv("ConvForwardRows", s, x, out); err != nil {
		return err
	}
	if step < 1 || done == nil {
		return fmt.Errorf("gemm: ConvForwardRows: step %d, done set %t: %w", step, done != nil, ErrShape)
	}
	kern := active.Load()
	if useBLAS.Load() || !directOK(kern, s, pb.o) {
		return ErrNotDirect
	}
	if pb.direct && pb.kern == kern {
		directRun(kern, s, x, pb.data, pb.o, out, step, done)
		return nil
	}
	convDirectRows(kern, s, x, pb.w, pb.o, out, step, done)
	return nil
}

// directJob is one direct ConvForward split over bands of output rows.
type directJob struct {
	kern   *microKernel
	s      ConvShape
	x, out []float32
	o      int
	wp     []float32 // the filter packed as packB's panels over all of K
	bands  int       // parts per image
	step   int       // bands start at multiples of step rows
	done   func(n, y0, y1 int)
}

var directPool = sync.Pool{New: func() any { return new(directJob) }}

func convDirectRows(kern *microKernel, s ConvShape, x, w []float32, o int, out []float32, step int, done func(n, y0, y1 int)) {
	k := s.KH * s.KW * s.C
	nr := kern.nr
	wp := getFloats(ceilDiv(o, nr) * nr * k)
	defer putFloats(wp)
	packB(*wp, true, w, k, 0, k, 0, o, nr)
	directRun(kern, s, x, *wp, o, out, step, done)
}

// directRun runs the direct convolution on the filter wp packed as
// packB's panels over all of K.
func directRun(kern *microKernel, s ConvShape, x, wp []float32, o int, out []float32, step int, done func(n, y0, y1 int)) {
	j := directPool.Get().(*directJob)
	*j = directJob{kern: kern, s: s, x: x, out: out, o: o, wp: wp, bands: 1, step: step, done: done}
	t := Threads()
	if s.N*s.OutH()*s.OutW()*s.KH*s.KW*s.C*o < minParallelMACs {
		t = 1
	}
	if t > 1 && s.N < 2*t {
		// Few images (batch 1 inference): split each into bands of
		// output rows, about two per goroutine. Every output element is
		// computed the same way whatever the split.
		j.bands = min(s.OutH(), ceilDiv(2*t, s.N))
	}
	parallel(j, s.N*j.bands, t)
	*j = directJob{}
	directPool.Put(j)
}

// runPart computes band i%bands of image i/bands.
func (j *directJob) runPart(i int) {
	s, kern := &j.s, j.kern
	mr, nr := kern.mr, kern.nr
	n, band := i/j.bands, i%j.bands
	oh, ow, o := s.OutH(), s.OutW(), j.o
	y0, y1 := band*oh/j.bands/j.step*j.step, (band+1)*oh/j.bands/j.step*j.step
	if band == j.bands-1 {
		y1 = oh
	}
	if y1 <= y0 {
		return
	}
	c := s.C
	src := j.x[n*s.H*s.W*c:]
	kwc, k := s.KW*c, s.KH*s.KW*c
	lda := s.StrideW * c
	// A tile whose windows all lie inside the image reads it in place;
	// one that reaches into the left or right padding reads a copy of
	// its window rows with the zeros (patch).
	patchW := (mr-1)*s.StrideW + s.KW
	p := getFloats(s.KH * patchW * c)
	defer putFloats(p)
	for y := y0; y < y1; y++ {
		if j.done != nil && y > y0 && (y-y0)%j.step == 0 {
			j.done(n, y-j.step, y)
		}
		// Kernel rows wholly in the top or bottom padding add only zeros
		// (the sum never holds -0, so skipping them keeps every bit).
		r0 := max(0, s.PadH-y*s.StrideH)
		r1 := min(s.KH, s.H+s.PadH-y*s.StrideH)
		row := j.out[(n*oh+y)*ow*o:][:ow*o]
		if r1 <= r0 {
			clear(row)
			continue
		}
		iy := y*s.StrideH - s.PadH + r0 // the first input row read
		for xo := 0; xo < ow; xo += mr {
			rows := min(mr, ow-xo)
			ix := xo*s.StrideW - s.PadW
			a, segStride := src[max(0, (iy*s.W+ix)*c):], s.W*c
			if ix < 0 || ix+patchW > s.W {
				a, segStride = (*p)[:(r1-r0)*patchW*c], patchW*c
				fillPatch(a, src, s, iy, r1-r0, ix, patchW)
			}
			for jr := 0; jr < o; jr += nr {
				kern.genRows(kwc, r1-r0, segStride, a, lda, 1, j.wp[jr*k+r0*kwc*nr:], nr, row[xo*o+jr:], o, 1, 0, rows, min(nr, o-jr))
			}
		}
	}
	if j.done != nil {
		j.done(n, y0+(y1-1-y0)/j.step*j.step, y1)
	}
}

// fillPatch copies input rows iy..iy+rows, columns ix..ix+w (zeros
// outside the image) of one image src into a, rows w·C floats apart.
func fillPatch(a, src []float32, s *ConvShape, iy, rows, ix, w int) {
	c := s.C
	for r := range rows {
		dst := a[r*w*c : (r+1)*w*c]
		lo, hi := max(0, -ix), min(w, s.W-ix) // columns inside the image
		clear(dst[:lo*c])
		if hi > lo {
			copy(dst[lo*c:hi*c], src[((iy+r)*s.W+ix+lo)*c:])
		}
		clear(dst[max(lo, hi)*c:])
	}
}
