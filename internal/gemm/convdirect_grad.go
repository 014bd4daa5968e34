package gemm

import "sync"

// Direct weight gradient for stride-1 convolutions whose filter fits in
// cache. A chunk of images is copied zero-padded into xp (Hp×Wp×C each)
// and its output gradient into gp on the same Hp×Wp grid, zero off the
// OH×OW corner. Grid position v then sees kernel row r's part of its
// im2col row at xp[(v+r*Wp)*C:], C floats further for v+1, so
//
//	dW[:, r*KW*C : (r+1)*KW*C] = gpᵀ × xp[r*Wp*C:] (rows C apart)
//
// is one GEMM per kernel row with B read in place: positions where gp is
// zero add nothing. Chunks are cut by image count alone and their partial
// sums added in order, so the result does not depend on the thread count.

// maxGradChunk bounds, in floats, one chunk's padded images.
const maxGradChunk = 1 << 18

// directGradOK reports whether ConvGradWeights may run s directly: it pays
// where the driver reads B in place (o at most 3 tiles of rows, as in
// ResNet-20's first stage) and the padded grid is at most 5/4 of the
// output (big maps, small padding); elsewhere packing B or multiplying
// the grid's zeros costs more than the implicit GEMM's packing.
func directGradOK(kern *microKernel, s ConvShape, o int) bool {
	grid := (s.H + 2*s.PadH) * (s.W + 2*s.PadW)
	return kern.gen != nil && s.StrideH == 1 && s.StrideW == 1 && o <= 3*kern.mr &&
		4*grid <= 5*s.OutH()*s.OutW() && s.KH*s.KW*s.C*o <= maxDirectFilter
}

type gradWJob struct {
	kern     *microKernel
	s        ConvShape
	g, x     []float32
	o, chunk int
	parts    []float32 // one O×K partial per chunk
}

var gradWPool = sync.Pool{New: func() any { return new(gradWJob) }}

func convGradWeightsDirect(kern *microKernel, s ConvShape, g, x []float32, o int, dw []float32) {
	k := s.KH * s.KW * s.C
	per := (s.H + 2*s.PadH) * (s.W + 2*s.PadW) * max(s.C, o)
	chunk := max(1, min(maxGradChunk/per, s.N))
	n := ceilDiv(s.N, chunk)
	p := getFloats(n * o * k)
	defer putFloats(p)
	j := gradWPool.Get().(*gradWJob)
	*j = gradWJob{kern: kern, s: s, g: g, x: x, o: o, chunk: chunk, parts: *p}
	parallel(j, n, Threads())
	copy(dw[:o*k], j.parts[:o*k])
	for i := 1; i < n; i++ {
		part := j.parts[i*o*k : (i+1)*o*k]
		for q, v := range part {
			dw[q] += v
		}
	}
	*j = gradWJob{}
	gradWPool.Put(j)
}

func (j *gradWJob) runPart(i int) {
	s := j.s
	n0 := i * j.chunk
	cn := min(s.N, n0+j.chunk) - n0
	hp, wp := s.H+2*s.PadH, s.W+2*s.PadW
	c, o, k := s.C, j.o, s.KH*s.KW*s.C
	oh, ow := s.OutH(), s.OutW()
	v := cn * hp * wp
	// Slack: the last kernel row reads (KH-1)*Wp+KW-1 positions past v.
	xb := getFloats((v + s.KH*wp) * c)
	defer putFloats(xb)
	gb := getFloats(v * o)
	defer putFloats(gb)
	xp, gp := *xb, *gb
	clear(xp)
	clear(gp)
	padImages(xp, j.x, &s, n0, cn)
	for n := range cn {
		gs := j.g[(n0+n)*oh*ow*o:]
		for y := range oh {
			copy(gp[(n*hp+y)*wp*o:][:ow*o], gs[y*ow*o:][:ow*o])
		}
	}
	part := j.parts[i*o*k : (i+1)*o*k]
	kwc := s.KW * c
	for r := range s.KH {
		sgemm(j.kern, 1, true, false, o, kwc, v, 1, gp, o, xp[r*wp*c:], c, 0, part[r*kwc:], k)
	}
}

// padImages copies images n0..n0+cn of the NHWC input x into xp, each on
// a zero-padded (H+2·PadH)×(W+2·PadW) grid; xp's padding must be zero.
func padImages(xp, x []float32, s *ConvShape, n0, cn int) {
	hp, wp, c := s.H+2*s.PadH, s.W+2*s.PadW, s.C
	for n := range cn {
		src := x[(n0+n)*s.H*s.W*c:]
		for y := range s.H {
			copy(xp[((n*hp+y+s.PadH)*wp+s.PadW)*c:][:s.W*c], src[y*s.W*c:][:s.W*c])
		}
	}
}
