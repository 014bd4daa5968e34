package gemm

import "sync"

// Weight gradient with the input read in place, for layers with few output
// channels (ResNet-20's 32- and 64-channel stages, strided or not), where
// the implicit GEMM packs each im2col element for only o/mr row tiles and
// spends as long packing as multiplying. It computes the transpose,
//
//	dWᵀ[KH*KW*C][o] = im2col(x)ᵀ × g,
//
// tiles of 8 consecutive channels at one kernel position by up to 32
// output channels: for output row y of a zero-padded image, step xo of
// tile row ci reads xp[(y*S+r)*Wp*C + (xo*S+q)*C + c0+ci], so the strided
// micro-kernel (genRows, one segment per output row) reads the padded
// image where it lies, and g's rows ([pixel][o]) are B as they are. Each
// tile sums image after image in order, on one goroutine, so the result
// does not depend on the thread count.

// maxInPlaceO is the most output channels the in-place gradient takes:
// past it the implicit GEMM's packing is shared by enough row tiles.
const maxInPlaceO = 64

// inPlaceGradOK reports whether ConvGradWeights may run s in place. On
// this package's benchmarks (Zen 4, 1 thread) it is 15-60% faster than
// the implicit GEMM for ResNet-20's and ResNet-18's layers up to 64
// output channels, except strided ones with 64 (16×16×32 → 64, stride 2:
// 15% slower), where eight row tiles share the packing.
//
// With channels not a multiple of 8 (an RGB first layer), a tile is 8
// consecutive floats of one kernel row's KW·C run, the last one partial:
// ResNet-18's 7×7 stride-2 first layer (KW·C = 21, 64 output channels)
// takes 46 ms here against the implicit GEMM's 54 (2 threads), which
// packs B for only 64 rows of A.
func inPlaceGradOK(kern *microKernel, s ConvShape, o int) bool {
	strided := s.StrideH > 1 || s.StrideW > 1
	if kern.genRows == nil || kern.mr != 8 || o < 16 || o > maxInPlaceO {
		return false
	}
	if s.C%8 != 0 {
		return s.C < 8 && s.KW*s.C >= 16
	}
	return o <= 32 || !strided
}

// maxInPlaceChunk bounds, in floats, one chunk's padded images.
const maxInPlaceChunk = 1 << 18

type inPlaceGradJob struct {
	kern   *microKernel
	s      ConvShape
	g, xp  []float32 // output gradient; this chunk's padded images
	n0, cn int       // the chunk: images n0..n0+cn
	o      int
	dwt    []float32 // [k][o]
}

var inPlaceGradPool = sync.Pool{New: func() any { return new(inPlaceGradJob) }}

func convGradWeightsInPlace(kern *microKernel, s ConvShape, g, x []float32, o int, dw []float32) {
	k := s.KH * s.KW * s.C
	hp, wp := s.H+2*s.PadH, s.W+2*s.PadW
	per := hp * wp * s.C
	chunk := max(1, min(maxInPlaceChunk/per, s.N))
	xb := getFloats(chunk*per + inPlaceSlack)
	defer putFloats(xb)
	tb := getFloats(k * o)
	defer putFloats(tb)
	j := inPlaceGradPool.Get().(*inPlaceGradJob)
	*j = inPlaceGradJob{kern: kern, s: s, g: g, o: o, dwt: *tb}
	t := Threads()
	if s.N*s.OutH()*s.OutW()*k*o < minParallelMACs {
		t = 1
	}
	for n0 := 0; n0 < s.N; n0 += chunk {
		cn := min(chunk, s.N-n0)
		xp := (*xb)[:cn*per+inPlaceSlack]
		clear(xp)
		padImages(xp, x, &s, n0, cn)
		j.xp, j.n0, j.cn = xp, n0, cn
		parallel(j, s.KH*j.rowTiles(), t)
	}
	dwt := j.dwt
	for kk := range k {
		for oi, v := range dwt[kk*o : kk*o+o] {
			dw[oi*k+kk] = v
		}
	}
	*j = inPlaceGradJob{}
	inPlaceGradPool.Put(j)
}

// inPlaceSlack pads the padded images: a partial tile's strided reads
// run up to 7 floats past its kernel row's last.
const inPlaceSlack = 8

// rowTiles is the number of 8-row tiles of dWᵀ per kernel row.
func (j *inPlaceGradJob) rowTiles() int { return ceilDiv(j.s.KW*j.s.C, 8) }

// runPart adds the chunk's images to tile i: up to 8 rows of dWᵀ in one
// kernel row r, floats q0.. of its KW·C run. Element q of that run lies
// q floats into the padded image row at the window's left edge, so tile
// row q0+t reads the image t floats on (lda 1).
func (j *inPlaceGradJob) runPart(i int) {
	s := &j.s
	c := s.C
	kwc := s.KW * c
	r, q0 := i/j.rowTiles(), i%j.rowTiles()*8
	rows := min(8, kwc-q0)
	kk0 := r*kwc + q0
	hp, wp := s.H+2*s.PadH, s.W+2*s.PadW
	rowLen := wp * c
	oh, ow, o := s.OutH(), s.OutW(), j.o
	for n := range j.cn {
		a := j.xp[n*hp*rowLen+r*rowLen+q0:]
		gn := j.g[(j.n0+n)*oh*ow*o:]
		beta := float32(1)
		if j.n0+n == 0 {
			beta = 0
		}
		for jr := 0; jr < o; jr += 32 {
			j.kern.genRows(ow, oh, s.StrideH*rowLen, a, 1, s.StrideW*c, gn[jr:], o, j.dwt[kk0*o+jr:], o, 1, beta, rows, min(32, o-jr))
		}
	}
}
