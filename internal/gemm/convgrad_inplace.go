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

// maxInPlaceO is the most output channels the in-place gradient takes
// at any size: past it, only maps of at least minInPlaceMap output
// pixels.
const maxInPlaceO = 64

// minInPlaceMap is the fewest output pixels per image at which a layer of
// more than maxInPlaceO channels takes the in-place gradient: each call
// of the micro-kernel then sums at least that many steps between loads
// and stores of its C tile.
const minInPlaceMap = 14 * 14

// inPlaceGradOK reports whether ConvGradWeights may run s in place. On
// this package's benchmarks (Zen 4, 1 thread) it is 15-60% faster than
// the implicit GEMM for ResNet-20's and ResNet-18's layers up to 64
// output channels, except strided ones with 64 (16×16×32 → 64, stride 2:
// 15% slower), where eight row tiles share the packing.
//
// With channels not a multiple of 8 (an RGB first layer), a tile is 8
// consecutive floats of one kernel row's KW·C run, the last one partial:
// ResNet-18's 7×7 stride-2 first layer (KW·C = 21, 64 output channels)
// takes 40 ms here against the implicit GEMM's 54 (2 threads), which
// packs B for only 64 rows of A.
//
// Wider layers take it for 3×3 (or larger) filters on maps of at least
// 14×14 outputs: ResNet-18's stages 2 and 3 at batch 32 (2 threads)
// took 33.6 and 34.4 ms against 38.2 and 39.5, and their strided first
// convs 18.3 against 21.5 and 19.6 ms. On its 7×7 stage 4 (41.5 against
// 37.9 ms) and on 1×1 projections the implicit GEMM stays faster.
func inPlaceGradOK(kern *microKernel, s ConvShape, o int) bool {
	strided := s.StrideH > 1 || s.StrideW > 1
	if kern.genRows == nil || kern.mr != 8 || o < 16 {
		return false
	}
	if o > maxInPlaceO {
		return s.C%8 == 0 && s.KH > 1 && s.KW > 1 && s.OutH()*s.OutW() >= minInPlaceMap
	}
	if s.C%8 != 0 {
		return s.C < 8 && s.KW*s.C >= 16
	}
	return o <= 32 || !strided
}

// The parts are contiguous groups of (tile, 32 columns) units, one per
// goroutine, each running over every image on its own: per band of
// output rows it copies the input rows the band reads, zero-padded, into
// a buffer of its own (L2-sized) and sweeps its units over it. There is no barrier per image
// (a per-image parallel call left a core idle for 15 ms of ResNet-18's
// 40 ms first-stage gradient on this machine), and a band's input and
// output gradient stay in cache for all the part's tiles.

// inPlaceBand is the most output-gradient floats one band covers.
const inPlaceBand = 1 << 16

// inPlaceSlack pads a band buffer: a partial tile's strided reads run up
// to 7 floats past its kernel row's last.
const inPlaceSlack = 8

type inPlaceGradJob struct {
	kern     *microKernel
	s        ConvShape
	g, x     []float32 // output gradient, input
	o        int
	tiles    int       // tiles of dWᵀ: KH·rowTiles
	parts    int       // tile groups
	bandRows int       // output rows per band
	dwt      []float32 // [k][o], zeroed
}

var inPlaceGradPool = sync.Pool{New: func() any { return new(inPlaceGradJob) }}

func convGradWeightsInPlace(kern *microKernel, s ConvShape, g, x []float32, o int, dw []float32) {
	k := s.KH * s.KW * s.C
	tb := getFloats(k * o)
	defer putFloats(tb)
	clear(*tb)
	j := inPlaceGradPool.Get().(*inPlaceGradJob)
	*j = inPlaceGradJob{kern: kern, s: s, g: g, x: x, o: o, dwt: *tb}
	j.tiles = s.KH * j.rowTiles()
	j.bandRows = max(1, min(s.OutH(), inPlaceBand/(s.OutW()*o)))
	t := Threads()
	if s.N*s.OutH()*s.OutW()*k*o < minParallelMACs {
		t = 1
	}
	j.parts = min(t, j.tiles*ceilDiv(o, 32))
	parallel(j, j.parts, j.parts)
	dwt := j.dwt
	for kk := range k {
		for oi, v := range dwt[kk*o : kk*o+o] {
			dw[oi*k+kk] = v
		}
	}
	*j = inPlaceGradJob{}
	inPlaceGradPool.Put(j)
}

// rowTiles is the number of 8-row tiles of dWᵀ per kernel row.
func (j *inPlaceGradJob) rowTiles() int { return ceilDiv(j.s.KW*j.s.C, 8) }

// runPart adds every image to group p. Tile i holds up to 8 rows of
// dWᵀ in one kernel row r, floats q0.. of its KW·C run. Element q of that
// run lies q floats into the padded input row at the window's left edge,
// so tile row q0+t reads the band buffer t floats on (lda 1). Each tile
// sums images, bands, rows and columns in that order, whatever the
// grouping: the result does not depend on the thread count.
func (j *inPlaceGradJob) runPart(p int) {
	s := &j.s
	c, o := s.C, j.o
	kwc, nt := s.KW*c, j.rowTiles()
	oh, ow := s.OutH(), s.OutW()
	rowLen := (s.W + 2*s.PadW) * c
	inRows := (j.bandRows-1)*s.StrideH + s.KH
	bb := getFloats(inRows*rowLen + inPlaceSlack)
	defer putFloats(bb)
	buf := *bb
	clear(buf[inRows*rowLen:])
	// The group is a run of (tile, 32 columns) units, tile-major: split
	// by units, ResNet-18's first layer (21 tiles of 64 columns) halves
	// evenly.
	cb := ceilDiv(o, 32)
	units := j.tiles * cb
	u0, u1 := p*units/j.parts, (p+1)*units/j.parts
	for n := range s.N {
		for y0 := 0; y0 < oh; y0 += j.bandRows {
			y1 := min(oh, y0+j.bandRows)
			padRows(buf, j.x, s, n, y0*s.StrideH-s.PadH, (y1-1-y0)*s.StrideH+s.KH)
			gn := j.g[(n*oh+y0)*ow*o:]
			for u := u0; u < u1; u++ {
				i, jr := u/cb, u%cb*32
				r, q0 := i/nt, i%nt*8
				kk0 := r*kwc + q0
				a := buf[r*rowLen+q0:]
				j.kern.genRows(ow, y1-y0, s.StrideH*rowLen, a, 1, s.StrideW*c, gn[jr:], o, j.dwt[kk0*o+jr:], o, 1, 1, min(8, kwc-q0), min(32, o-jr))
			}
		}
	}
}

// padRows writes input rows iy..iy+rows of image n of x into buf, rows
// (W+2·PadW)·C floats apart, with zeros for the padding and for rows
// outside the image.
func padRows(buf, x []float32, s *ConvShape, n, iy, rows int) {
	c := s.C
	rowLen := (s.W + 2*s.PadW) * c
	img := x[n*s.H*s.W*c : (n+1)*s.H*s.W*c]
	for r := range rows {
		dst := buf[r*rowLen : (r+1)*rowLen]
		ih := iy + r
		if ih < 0 || ih >= s.H {
			clear(dst)
			continue
		}
		clear(dst[:s.PadW*c])
		copy(dst[s.PadW*c:], img[ih*s.W*c:(ih+1)*s.W*c])
		clear(dst[(s.PadW+s.W)*c:])
	}
}
