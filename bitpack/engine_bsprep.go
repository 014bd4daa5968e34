package bitpack

// The bit-serial direct kernel's input preparation, split over threads.
// At batch 1 the serial preparation (quantize every input value, pack
// every pixel's planes, sum every output row's taps) was a fifth of
// ResNet-18's 56×56 bit-serial layers at one thread and kept them at
// 0.78× the 1-thread time on 2 cores. Each step is integer work per
// pixel or per row, so splitting it gives the same codes, planes and sums.

// directBitSerial reports whether the layer runs the bit-serial direct
// kernel (bitSerialDirect over padPlanes' planes).
func (l *linear) directBitSerial() bool {
	return l.kernel == KernelBitSerial && kernels.popcnt && l.bits == 2 && l.cin%64 == 0 && !l.dense && !l.pointwise()
}

// bitSerialSplit is integer's bit-serial direct path with its input
// preparation in parallel regions: one packs the input pixels (their
// codes, planes and code sums), then each chunk of output rows sums its
// rows' taps before running the kernel and epi (as integer's own
// bit-serial direct path calls it).
func (l *linear) bitSerialSplit(sc *intScratch, acc []int32, x []float32, n, rows, threads int, epi func(r0, r1 int, a []int32)) {
	c := l.cin
	sc.codes = growU8(sc.codes, len(x))
	pix := l.planesFor(sc, n)
	parallelRows(n*l.h*l.w, threads, func(p0, p1 int) {
		inputCodes(l.q, sc.codes[p0*c:p1*c], x[p0*c:p1*c])
		l.packPixels(pix, sc.codes, p0, p1)
	})
	sc.rsum = grow32(sc.rsum, rows)
	parallelRows(rows, threads, func(r0, r1 int) {
		l.rowSumsOf(pix, sc.rsum, r0, r1)
		l.bitSerialDirect(acc, pix, sc.rsum, r0, r1)
		epi(r0, r1, nil)
	})
}

// planesFor sizes sc.pix as padPlanes does and zeroes it where the
// padding will not be overwritten.
func (l *linear) planesFor(sc *intScratch, n int) *Planes {
	hp, wp, c := l.h+2*l.pad, l.w+2*l.pad, l.cin
	p := &sc.pix
	p.Rows, p.K, p.Bits, p.Words = n*hp*wp, c, 2, c/64
	p.Data = grow(p.Data, p.Rows*2*p.Words)
	p.RowSum = grow32(p.RowSum, p.Rows)
	if l.pad > 0 {
		clear(p.Data)
		clear(p.RowSum)
	}
	return p
}

// packPixels packs the codes of input pixels [p0, p1) (in sample, row,
// column order) into their places in the padded planes p.
func (l *linear) packPixels(p *Planes, codes []uint8, p0, p1 int) {
	hp, wp, c, blk := l.h+2*l.pad, l.w+2*l.pad, l.cin, 2*p.Words
	for i := p0; i < p1; i++ {
		b, iy, ix := i/(l.h*l.w), i/l.w%l.h, i%l.w
		q := (b*hp+iy+l.pad)*wp + ix + l.pad
		p.RowSum[q] = packRow(p.Data[q*blk:(q+1)*blk], codes[i*c:(i+1)*c], 2)
	}
}

// rowSumsOf writes rsum[r] for output rows [r0, r1): the sum of the
// code sums of the row's taps in the padded planes pix (rowSums' values).
func (l *linear) rowSumsOf(pix *Planes, rsum []int32, r0, r1 int) {
	hp, wp, plane := l.h+2*l.pad, l.w+2*l.pad, l.oh*l.ow
	for r := r0; r < r1; r++ {
		b, y, x := r/plane, r%plane/l.ow, r%l.ow
		var s int32
		for ky := 0; ky < l.kh; ky++ {
			for _, v := range pix.RowSum[(b*hp+y*l.stride+ky)*wp+x*l.stride:][:l.kw] {
				s += v
			}
		}
		rsum[r] = s
	}
}
