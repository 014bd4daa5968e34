package gemm

import (
	"fmt"
	"sync"
)

// ConvShape describes a 2-D convolution over an NHWC input with an
// [OutC][KH][KW][C] (OHWI) filter. The convolution is the GEMM
//
//	out[N*OH*OW, OutC] = im2col(x)[N*OH*OW, KH*KW*C] × Wᵀ
//
// with W viewed as an OutC × KH*KW*C row-major matrix.
type ConvShape struct {
	N, H, W, C       int // input batch, height, width, channels
	KH, KW           int // filter height and width
	StrideH, StrideW int // both at least 1
	PadH, PadW       int // zero padding on each side
}

// OutH is the output height, (H + 2*PadH - KH)/StrideH + 1.
func (s ConvShape) OutH() int { return (s.H+2*s.PadH-s.KH)/s.StrideH + 1 }

// OutW is the output width, (W + 2*PadW - KW)/StrideW + 1.
func (s ConvShape) OutW() int { return (s.W+2*s.PadW-s.KW)/s.StrideW + 1 }

// InputLen is the number of floats in x: N*H*W*C.
func (s ConvShape) InputLen() int { return s.N * s.H * s.W * s.C }

// ColLen is the number of floats in the im2col matrix:
// N*OH*OW × KH*KW*C.
func (s ConvShape) ColLen() int { return s.N * s.OutH() * s.OutW() * s.KH * s.KW * s.C }

// Validate reports a shape Im2col and Col2im cannot handle, wrapping
// ErrShape.
func (s ConvShape) Validate() error {
	switch {
	case s.N < 1 || s.H < 1 || s.W < 1 || s.C < 1 || s.KH < 1 || s.KW < 1:
		return fmt.Errorf("gemm: %+v: sizes must be positive: %w", s, ErrShape)
	case s.StrideH < 1 || s.StrideW < 1:
		return fmt.Errorf("gemm: %+v: strides must be at least 1: %w", s, ErrShape)
	case s.PadH < 0 || s.PadW < 0:
		return fmt.Errorf("gemm: %+v: negative padding: %w", s, ErrShape)
	case s.KH > s.H+2*s.PadH || s.KW > s.W+2*s.PadW:
		return fmt.Errorf("gemm: %+v: filter larger than padded input: %w", s, ErrShape)
	}
	return nil
}

// Im2col unrolls the NHWC input x into col, an [N*OH*OW][KH*KW*C] row-major
// matrix: row (n, oh, ow) holds the receptive field of output pixel
// (oh, ow) of image n in (kh, kw, c) order, with zeros where it overlaps
// the padding. Every element of col is written.
//
// s must pass Validate, len(x) >= s.InputLen() and len(col) >= s.ColLen();
// Im2col panics otherwise, as copy out of range would. It runs on up to
// Threads() goroutines, one image or more each.
func Im2col(s ConvShape, x []float32, col []float32) {
	mustFit("Im2col", s, x, col)
	runConv(s, x, col, false)
}

// Col2im is the adjoint of Im2col: it adds each element of col into the
// dx element Im2col would have read it from, and drops those that came
// from padding. The caller zeroes dx first for a plain scatter, as
// convolution backward needs. Same preconditions as Im2col.
func Col2im(s ConvShape, col []float32, dx []float32) {
	mustFit("Col2im", s, dx, col)
	runConv(s, dx, col, true)
}

// mustFit panics on a programmer error: the layer computes these sizes
// from its own configuration, so a mismatch is a bug, not bad input.
func mustFit(op string, s ConvShape, x, col []float32) {
	if err := s.Validate(); err != nil {
		panic(op + ": " + err.Error())
	}
	if len(x) < s.InputLen() || len(col) < s.ColLen() {
		panic(fmt.Sprintf("gemm: %s: %+v needs %d input and %d col floats, have %d and %d",
			op, s, s.InputLen(), s.ColLen(), len(x), len(col)))
	}
}

// convJob is one Im2col or Col2im call split over images.
type convJob struct {
	s       ConvShape
	x, col  []float32
	adjoint bool
	chunk   int
}

var convPool = sync.Pool{New: func() any { return new(convJob) }}

// minParallelCol is the col size, in floats, below which one goroutine
// beats waking others.
const minParallelCol = 1 << 15

func runConv(s ConvShape, x, col []float32, adjoint bool) {
	t := min(Threads(), s.N)
	if s.ColLen() < minParallelCol {
		t = 1
	}
	if t <= 1 {
		for n := range s.N {
			convImage(&s, x, col, n, adjoint)
		}
		return
	}
	// Two parts per goroutine balances cores that are busy elsewhere.
	parts := min(s.N, 2*t)
	j := convPool.Get().(*convJob)
	*j = convJob{s: s, x: x, col: col, adjoint: adjoint, chunk: ceilDiv(s.N, parts)}
	parallel(j, ceilDiv(s.N, j.chunk), t)
	*j = convJob{}
	convPool.Put(j)
}

func (j *convJob) runPart(i int) {
	for n := i * j.chunk; n < min(j.s.N, (i+1)*j.chunk); n++ {
		convImage(&j.s, j.x, j.col, n, j.adjoint)
	}
}

// convImage runs Im2col (or Col2im when adjoint) for image n. For a fixed
// output pixel and filter row kh, the in-bounds kw taps read consecutive
// input pixels, so each is one contiguous run of C*(kwHi-kwLo) floats.
func convImage(s *ConvShape, x, col []float32, n int, adjoint bool) {
	// Locals, not s's fields: the compiler cannot keep fields in registers
	// across the stores to col.
	h, w, c := s.H, s.W, s.C
	kh, kw := s.KH, s.KW
	sh, sw, ph, pw := s.StrideH, s.StrideW, s.PadH, s.PadW
	oh, ow := s.OutH(), s.OutW()
	kwc := kw * c
	kdim := kh * kwc
	wc := w * c
	img := x[n*h*wc : (n+1)*h*wc]
	rows := col[n*oh*ow*kdim : (n+1)*oh*ow*kdim]
	for y := range oh {
		ih0 := y*sh - ph
		khLo, khHi := max(0, -ih0), min(kh, h-ih0)
		for xo := range ow {
			iw0 := xo*sw - pw
			kwLo, kwHi := max(0, -iw0), min(kw, w-iw0)
			row := rows[(y*ow+xo)*kdim:][:kdim]
			if khLo == 0 && khHi == kh && kwLo == 0 && kwHi == kw {
				// Interior pixel: KH runs of KW*C floats, no padding.
				o := ih0*wc + iw0*c
				for r := range kh {
					src := img[o+r*wc : o+r*wc+kwc]
					dst := row[r*kwc : r*kwc+kwc]
					if adjoint {
						addTo(src, dst)
					} else {
						copyShort(dst, src)
					}
				}
				continue
			}
			for r := range kh {
				ih := ih0 + r
				dst := row[r*kwc : r*kwc+kwc]
				if r < khLo || r >= khHi || kwLo >= kwHi {
					if !adjoint {
						clear(dst)
					}
					continue
				}
				o := ih*wc + (iw0+kwLo)*c
				src := img[o : o+(kwHi-kwLo)*c]
				seg := dst[kwLo*c : kwHi*c]
				if adjoint {
					addTo(src, seg)
					continue
				}
				clear(dst[:kwLo*c])
				copyShort(seg, src)
				clear(dst[kwHi*c:])
			}
		}
	}
}

// addTo sets dst[i] += src[i].
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// copyShort is copy tuned for the short runs of small-channel layers
// (LeNet's first layer copies 5 floats at a time), where calling memmove
// costs more than the move.
func copyShort(dst, src []float32) {
	if len(src) > 16 {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v
	}
}
