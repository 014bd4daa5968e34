package gemm

import "sync"

// Direct convolution for layers whose filter fits in cache (ResNet-20's,
// ResNet-18's first stage). Each image is copied once into a zero-padded
// buffer; then for a run of mr output pixels in one output row, kernel
// row r's part of their im2col rows is the padded image itself, rows
// StrideW*C floats apart. The strided micro-kernel reads that in place, so
// nothing is packed but the filter, once per call. Each output tile sums
// its KH kernel rows in order, one kernel call each.

// maxDirectFilter is the largest filter, in floats, that takes the direct
// path: its packed copy is swept once per mr output pixels, so it must
// stay in L2.
const maxDirectFilter = 1 << 16

// directOK reports whether ConvForward may run s with o output channels
// directly on kern.
func directOK(kern *microKernel, s ConvShape, o int) bool {
	return kern.gen != nil && s.KH*s.KW*s.C*o <= maxDirectFilter
}

// directJob is one direct ConvForward split over images.
type directJob struct {
	kern    *microKernel
	s       ConvShape
	x, out  []float32
	o       int
	wp      []float32 // the filter packed as packB's panels over all of K
	padRows int       // rows of the padded image, stride Wp*C
}

var directPool = sync.Pool{New: func() any { return new(directJob) }}

func convDirect(kern *microKernel, s ConvShape, x, w []float32, o int, out []float32) {
	k := s.KH * s.KW * s.C
	nr := kern.nr
	wp := getFloats(ceilDiv(o, nr) * nr * k)
	defer putFloats(wp)
	packB(*wp, true, w, k, 0, k, 0, o, nr)
	j := directPool.Get().(*directJob)
	*j = directJob{kern: kern, s: s, x: x, out: out, o: o, wp: *wp}
	t := Threads()
	if s.N*s.OutH()*s.OutW()*k*o < minParallelMACs {
		t = 1
	}
	parallel(j, s.N, t)
	*j = directJob{}
	directPool.Put(j)
}

// runPart computes image n.
func (j *directJob) runPart(n int) {
	s, kern := &j.s, j.kern
	mr, nr := kern.mr, kern.nr
	c, wpad := s.C, s.W+2*s.PadW
	rowLen := wpad * c
	// Slack past the last row: the kernel addresses all mr rows of a tile.
	p := getFloats((s.H+2*s.PadH)*rowLen + mr*s.StrideW*c)
	defer putFloats(p)
	img := *p
	clear(img)
	src := j.x[n*s.H*s.W*c:]
	for y := range s.H {
		copy(img[(y+s.PadH)*rowLen+s.PadW*c:][:s.W*c], src[y*s.W*c:][:s.W*c])
	}
	oh, ow, o := s.OutH(), s.OutW(), j.o
	kwc, k := s.KW*c, s.KH*s.KW*c
	lda := s.StrideW * c
	for y := range oh {
		for xo := 0; xo < ow; xo += mr {
			rows := min(mr, ow-xo)
			cOut := j.out[((n*oh+y)*ow+xo)*o:]
			for jr := 0; jr < o; jr += nr {
				cols := min(nr, o-jr)
				bp := j.wp[jr*k:]
				for r := range s.KH {
					a := img[(y*s.StrideH+r)*rowLen+xo*lda:]
					beta := float32(1)
					if r == 0 {
						beta = 0
					}
					kern.gen(kwc, a, lda, 1, bp[r*kwc*nr:], nr, cOut[jr:], o, 1, beta, rows, cols)
				}
			}
		}
	}
}
