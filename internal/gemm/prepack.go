package gemm

import "sync"

// Whole-filter packing for the training products whose B is a filter.
// The GEMM driver packs B per part, and an M split cuts a deep layer's
// call into up to 8·threads parts: ResNet-18's last stage (a 512×4608
// filter) packed its filter eight times per forward pass, transposing it
// each time. Packing it once, on all threads, into PackedB's blocked
// layout moves no arithmetic, so the products keep their bits.

// bSource is the k×n op(B) a convolution product multiplies by.
type bSource struct {
	// flip false: op(B) is b (trans false, b [k][ldb]) or bᵀ (trans
	// true, b [n][ldb]), as for packB.
	trans bool
	b     []float32
	ldb   int
	n     int

	// flip true: op(B) is the filter of the transposed convolution that
	// gives s's input gradient: row (r, q, oi) of the KH·KW·o rows holds
	// w[oi][KH-1-r][KW-1-q][:], the C floats of column order, with w
	// s's OHWI filter of o output channels (flipFilter's wt, read where
	// it lies).
	flip bool
	s    ConvShape
	o    int
}

// matrixB is op(B) for a filter stored as a matrix.
func matrixB(trans bool, b []float32, ldb, n int) bSource {
	return bSource{trans: trans, b: b, ldb: ldb, n: n}
}

// flippedB is the transposed convolution's filter for s's input gradient.
func flippedB(w []float32, s ConvShape, o int) bSource {
	return bSource{flip: true, b: w, n: s.C, s: s, o: o}
}

// packRows packs rows p0..p0+kc, all n columns, of op(B) into dst as
// ceil(n/nr) panels of kc·nr floats (packB's layout).
func (src *bSource) packRows(dst []float32, p0, kc, nr int) {
	if !src.flip {
		packB(dst, src.trans, src.b, src.ldb, p0, kc, 0, src.n, nr)
		return
	}
	s, c := &src.s, src.s.C
	full := c / nr // panels with all nr columns
	oi := p0 % src.o
	pos := p0 / src.o // kernel position r·KW+q of the transposed filter
	r, q := pos/s.KW, pos%s.KW
	for p := range kc {
		row := src.b[((oi*s.KH+s.KH-1-r)*s.KW+s.KW-1-q)*c:][:c]
		d := dst[p*nr:]
		if packVector && nr <= 32 {
			if full > 0 {
				copyPanels(d, row, full, nr, kc*nr, nr, nr)
			}
			if rest := c - full*nr; rest > 0 {
				copyPanels(d[full*kc*nr:], row[full*nr:], 1, 0, 0, rest, nr)
			}
		} else {
			for jr := 0; jr < c; jr += nr {
				cols := min(nr, c-jr)
				dp := d[jr*kc : jr*kc+nr]
				copy(dp, row[jr:jr+cols])
				clear(dp[cols:])
			}
		}
		if oi++; oi == src.o {
			oi = 0
			if q++; q == s.KW {
				q = 0
				r++
			}
		}
	}
}

// dense returns op(B) as a row-major k×n matrix with its leading
// dimension and whether it is stored transposed, materialising a
// flipped filter in a pooled buffer (for the OpenBLAS route); release
// frees that buffer.
func (src *bSource) dense() (b []float32, ldb int, trans bool, release func()) {
	if !src.flip {
		return src.b, src.ldb, src.trans, func() {}
	}
	s := src.s
	k := s.KH * s.KW * s.C
	p := getFloats(src.o * k)
	flipFilter(*p, src.b, s, src.o)
	return *p, s.KH * s.KW * src.o, true, func() { putFloats(p) }
}

// packJob packs a whole op(B), one kcBlock block of rows per part.
type packJob struct {
	src     bSource // a copy: a pointer would move the caller's to the heap
	dst     []float32
	k, npad int
	nr      int
}

var packJobPool = sync.Pool{New: func() any { return new(packJob) }}

func (j *packJob) runPart(i int) {
	pc := i * kcBlock
	j.src.packRows(j.dst[pc*j.npad:], pc, min(kcBlock, j.k-pc), j.nr)
}

// packWhole packs the k×n op(B) of src for kern into pb, in PackedB's
// blocked layout (packedPanel), on up to t goroutines. The data lives in
// the returned pooled buffer until putFloats.
func packWhole(kern *microKernel, src *bSource, k, n, t int, pb *PackedB) *[]float32 {
	nr := kern.nr
	npad := ceilDiv(n, nr) * nr
	buf := getFloats(npad * k)
	*pb = PackedB{kern: kern, o: n, k: k, data: *buf}
	if k*n < minParallelMACs/8 {
		t = 1
	}
	j := packJobPool.Get().(*packJob)
	*j = packJob{src: *src, dst: *buf, k: k, npad: npad, nr: nr}
	parallel(j, ceilDiv(k, kcBlock), t)
	*j = packJob{}
	packJobPool.Put(j)
	return buf
}
