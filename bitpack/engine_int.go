package bitpack

import (
	"encoding/binary"
	"runtime"
	"sync"
)

// The integer layer paths of the engine: KernelBitSerial and KernelInt8.
//
// Both compute the layer's input codes once per input pixel. The int8
// path unfolds them into a byte im2col (rows of Kp bytes) for the u8×s8
// GEMM. The bit-serial path packs each pixel's codes into bit planes once
// and, when the input channels are a multiple of 64 (every tap then
// starts on a word), unfolds the packed words instead of the bytes; other
// shapes unfold the bytes and pack each row. The float epilogue
// y = float32(scale·float64(acc)) (+ bias) is one pass with the same
// per-element operations as before.

// intScratch is a slot's scratch for the integer kernels.
type intScratch struct {
	codes, col []uint8
	pix        Planes  // bit-serial: the packed planes of every input pixel
	rsum       []int32 // bit-serial direct: the code sum of each output row
	padded     *u8Buf  // the padded input codes while the layer holds them (codesPool)
	ready      bool    // padded holds this run's codes, written by the layer before
}

// integerForward runs a bit-serial or int8 layer: y = scale·acc + bias.
// It returns the accumulators (in s.i32).
func (l *linear) integerForward(s *slot, y, x []float32, n, rows int) []int32 {
	s.i32 = grow32(s.i32, rows*l.cout)
	acc := s.i32
	l.integer(s, acc, x, n, rows, func(r0, r1 int, a []int32) {
		scaleBias(y[r0*l.cout:r1*l.cout], a, l.scale, l.bias, r1-r0, l.cout)
	})
	return acc
}

// scaleBias writes y = float32(scale[o]·float64(acc)), then adds bias[o]
// (when not nil), per element in that order; with AVX-512 eight at a
// time by the same operations (the conversions are exact or round to
// nearest, as Go's).
func scaleBias(y []float32, acc []int32, scale []float64, bias []float32, rows, cout int) {
	vec := 0
	if kernels.popcnt && cpuHasAVX512 {
		vec = cout &^ 7
	}
	for r := 0; r < rows; r++ {
		ar, yr := acc[r*cout:(r+1)*cout], y[r*cout:(r+1)*cout]
		sc := scale[:len(ar)]
		if vec > 0 {
			var bp *float32
			if bias != nil {
				bp = &bias[0]
			}
			scaleBiasAVX512(&yr[0], &ar[0], &sc[0], bp, vec)
		}
		if bias == nil {
			for o := vec; o < len(ar); o++ {
				yr[o] = float32(sc[o] * float64(ar[o]))
			}
			continue
		}
		b := bias[:len(ar)]
		for o := vec; o < len(ar); o++ {
			yr[o] = float32(sc[o]*float64(ar[o])) + b[o]
		}
	}
}

// gemmThreads is how many goroutines a layer's GEMM of the given size uses.
func gemmThreads(rows, cout, k int) int {
	if rows*cout*k < 1<<16 {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// integer computes the accumulators of the bit-serial and int8 kernels
// and runs epi on each finished block of rows (in the thread computing
// it), passing the block's accumulators a (rows r0..r1, cout each). For
// int8 the input offset is corrected: Σ(c − off)·w = Σ c·w − off·Σw.
// With acc nil the accumulators need not outlive epi: the Winograd path
// keeps them in a per-thread block buffer, the others in s.i32.
func (l *linear) integer(s *slot, acc []int32, x []float32, n, rows int, epi func(r0, r1 int, a []int32)) {
	sc := &s.isc
	if acc == nil && (l.wino == nil || !kernels.vnni) {
		ab := accPool.Get().(*i32Buf)
		defer accPool.Put(ab)
		ab.b = grow32(ab.b, rows*l.cout)
		acc = ab.b
	}
	full := epi
	epi = func(r0, r1 int, _ []int32) { full(r0, r1, acc[r0*l.cout:r1*l.cout]) }
	threads := gemmThreads(rows, l.cout, l.k)
	off := l.q.Offset()
	if l.wino != nil && kernels.vnni {
		l.winoForward(sc, acc, x, n, threads, full)
		return
	}
	if hp, wp, ok := l.codeGeom(); ok {
		xp := l.inputPadded(sc, x, n, hp, wp, threads)
		defer sc.releaseCodes()
		parallelRows(rows, threads, func(r0, r1 int) {
			l.int8Direct(acc, xp, r0, r1)
			l.offsetRows(acc, off, r0, r1)
			epi(r0, r1, nil)
		})
		return
	}
	sc.codes = growU8(sc.codes, len(x))
	codes := sc.codes
	inputCodes(l.q, codes, x)
	if l.kernel == KernelBitSerial && kernels.popcnt && l.bits == 2 && l.cin%64 == 0 && !l.dense && !l.pointwise() {
		pix := l.padPlanes(sc, codes, n)
		rsum := l.rowSums(sc, pix, n, rows)
		parallelRows(rows, threads, func(r0, r1 int) {
			l.bitSerialDirect(acc, pix, rsum, r0, r1)
			epi(r0, r1, nil)
		})
		return
	}
	if l.kernel == KernelBitSerial {
		planes := l.bitPlanes(s, codes, n, rows)
		parallelRows(rows, threads, func(r0, r1 int) {
			bitSerialGEMM(acc, l.cout, planes, l.pp, r0, r1)
			epi(r0, r1, nil)
		})
		return
	}
	kp := (l.k + 3) &^ 3
	col := codes
	if !l.pointwise() || kp != l.k {
		sc.col = growU8(sc.col, rows*kp)
		col = sc.col
		im2colU8(col, kp, codes, n, l.h, l.w, l.cin, l.kh, l.kw, l.stride, l.pad, l.oh, l.ow, uint8(off))
	}
	a := &U8Matrix{Rows: rows, K: l.k, Kp: kp, Data: col}
	parallelRows(rows, threads, func(r0, r1 int) {
		gemmU8S8(acc, l.cout, a, l.s8, r0, r1)
		l.offsetRows(acc, off, r0, r1)
		epi(r0, r1, nil)
	})
}

// offsetRows subtracts off·Σw from the accumulators of rows [r0, r1).
func (l *linear) offsetRows(acc []int32, off, r0, r1 int) {
	if off == 0 {
		return
	}
	for r := r0; r < r1; r++ {
		ar := acc[r*l.cout : (r+1)*l.cout]
		ls := l.lsum[:len(ar)]
		for o := range ar {
			ar[o] -= int32(off) * ls[o]
		}
	}
}

// codeGeom returns the padded input geometry (hp×wp pixels per sample)
// of a layer whose kernel reads padded input codes (the Winograd and
// direct int8 paths); ok is false for the others.
func (l *linear) codeGeom() (hp, wp int, ok bool) {
	switch {
	case l.wino != nil && kernels.vnni:
		return 2*((l.oh+1)/2) + 2, 2*((l.ow+1)/2) + 2, true
	case l.kernel == KernelInt8 && kernels.vnni && !l.dense && !l.pointwise() && l.kw*l.cin%4 == 0:
		return l.h + 2*l.pad, l.w + 2*l.pad, true
	}
	return 0, 0, false
}

// inputPadded returns the padded input codes: the ones the previous
// layer's epilogue wrote (sc.ready, engine_intfuse.go), else padCodes of
// x, in a buffer from codesPool (sc.padded) that the caller hands back by
// sc.releaseCodes when its kernel is done.
func (l *linear) inputPadded(sc *intScratch, x []float32, n, hp, wp, threads int) []uint8 {
	if sc.ready {
		sc.ready = false
		return sc.padded.b[:n*hp*wp*l.cin]
	}
	if sc.padded == nil {
		sc.padded = codesPool.Get().(*u8Buf)
	}
	sc.padded.b = growU8(sc.padded.b, n*hp*wp*l.cin)
	l.padCodes(sc.padded.b, x, n, hp, wp, threads)
	return sc.padded.b
}

// Buffers shared by the integer layers of every model, so that a layer
// finds them in cache: padded input codes (a layer takes one before its
// kernel, or the layer before it takes one to write its codes, and gives
// it back after) and block accumulators.
type (
	u8Buf  struct{ b []uint8 }
	i32Buf struct{ b []int32 }
)

var (
	codesPool = sync.Pool{New: func() any { return new(u8Buf) }}
	accPool   = sync.Pool{New: func() any { return new(i32Buf) }}
)

// releaseCodes hands the padded codes buffer back to codesPool.
func (sc *intScratch) releaseCodes() {
	if sc.padded != nil {
		codesPool.Put(sc.padded)
		sc.padded = nil
	}
}

// padBorder fills the pad pixels of the padded codes xp (n samples of
// hp×wp pixels, the input at row and column pad) with the code of 0.
func (l *linear) padBorder(xp []uint8, n, hp, wp int) {
	c, pc := l.cin, uint8(l.q.Offset())
	for r := 0; r < n*hp; r++ {
		row := xp[r*wp*c : (r+1)*wp*c]
		if iy := r%hp - l.pad; iy < 0 || iy >= l.h {
			fillU8(row, pc)
			continue
		}
		fillU8(row[:l.pad*c], pc)
		fillU8(row[(l.pad+l.w)*c:], pc)
	}
}

// padCodes writes the input codes of x into xp with pad pixels holding
// the code of 0 around every sample (n×hp×wp×cin, the input at row and
// column pad, hp >= h+2·pad, wp >= w+2·pad); the padded rows are split
// over threads goroutines.
func (l *linear) padCodes(xp []uint8, x []float32, n, hp, wp, threads int) {
	c := l.cin
	pc := uint8(l.q.Offset())
	if n*hp*wp*c < 1<<15 {
		threads = 1
	}
	parallelRows(n*hp, threads, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			row := xp[r*wp*c : (r+1)*wp*c]
			iy := r%hp - l.pad
			if iy < 0 || iy >= l.h {
				fillU8(row, pc)
				continue
			}
			fillU8(row[:l.pad*c], pc)
			fillU8(row[(l.pad+l.w)*c:], pc)
			inputCodes(l.q, row[l.pad*c:(l.pad+l.w)*c], x[((r/hp)*l.h+iy)*l.w*c:][:l.w*c])
		}
	})
}

// int8Direct computes the accumulators of output pixels [r0, r1) from the
// padded codes xp without unfolding them: for each tap row ky the kw·cin
// codes under the kernel are contiguous (a whole number of 4-byte groups),
// so the VNNI kernel reads them in place and adds to the previous tap
// rows' sums (int32 wrap-around, as one pass over the unfolded row).
func (l *linear) int8Direct(acc []int32, xp []uint8, r0, r1 int) {
	const pw = S8PanelWidth
	var tmp [4 * pw]int32
	w := l.s8
	pLen := w.Kp * pw
	wp, gseg := l.w+2*l.pad, l.kw*l.cin/4
	for p := 0; p*pw < w.N; p++ {
		c0, nr := p*pw, min(pw, w.N-p*pw)
		pd := w.Data[p*pLen : (p+1)*pLen]
		it := l.pixelAt(r0)
		for r := r0; r < r1; r += 4 {
			mr := min(4, r1-r)
			var base [4]int
			for i := range base {
				base[i] = it.base
				if i < mr-1 {
					it.next()
				}
			}
			it.next()
			dst, ldo := &acc[r*l.cout+c0], l.cout
			direct := mr == 4 && nr == pw
			if !direct {
				dst, ldo = &tmp[0], pw
			}
			for ky := 0; ky < l.kh; ky++ {
				off := ky * wp * l.cin
				vnni4x64(&xp[base[0]+off], &xp[base[1]+off], &xp[base[2]+off], &xp[base[3]+off],
					&pd[ky*gseg*pw*4], gseg, dst, ldo, min(ky, 1))
			}
			for i := 0; i < mr && !direct; i++ {
				copy(acc[(r+i)*l.cout+c0:(r+i)*l.cout+c0+nr], tmp[i*pw:])
			}
		}
	}
}

// pixelIter walks output pixels in order, keeping the offset of each
// one's window in the padded codes (n×(h+2·pad)×(w+2·pad)×cin) without
// divisions.
type pixelIter struct {
	l          *linear
	y, x, base int
}

// pixelAt returns the iterator at output row r (pixel r of the batch).
func (l *linear) pixelAt(r int) pixelIter {
	plane := l.oh * l.ow
	b, q := r/plane, r%plane
	it := pixelIter{l: l, y: q / l.ow, x: q % l.ow}
	wp := l.w + 2*l.pad
	it.base = ((b*(l.h+2*l.pad)+it.y*l.stride)*wp + it.x*l.stride) * l.cin
	return it
}

func (it *pixelIter) next() {
	l := it.l
	it.x++
	it.base += l.stride * l.cin
	if it.x < l.ow {
		return
	}
	wp := l.w + 2*l.pad
	it.base += (l.stride*wp - l.ow*l.stride) * l.cin // to the next output row's window
	it.x = 0
	it.y++
	if it.y < l.oh {
		return
	}
	// to the next sample: skip the rows below the last window
	it.base += ((l.h + 2*l.pad) - l.oh*l.stride) * wp * l.cin
	it.y = 0
}

// bitPlanes returns the bit planes of the layer's unfolded input codes
// (n samples, rows output pixels), in the slot's scratch.
func (l *linear) bitPlanes(s *slot, codes []uint8, n, rows int) *Planes {
	if l.cin%64 != 0 {
		col := codes
		if !l.pointwise() {
			sc := &s.isc
			sc.col = growU8(sc.col, rows*l.k)
			col = sc.col
			im2colU8(col, l.k, codes, n, l.h, l.w, l.cin, l.kh, l.kw, l.stride, l.pad, l.oh, l.ow, 0)
		}
		packPlanesInto(&s.planes, col, rows, l.k, l.bits)
		return &s.planes
	}
	pix := &s.isc.pix
	packPlanesInto(pix, codes, n*l.h*l.w, l.cin, l.bits)
	if l.pointwise() {
		return pix
	}
	im2colPlanes(&s.planes, pix, n, l.h, l.w, l.kh, l.kw, l.stride, l.pad, l.oh, l.ow)
	return &s.planes
}

// im2colPlanes unfolds the per-pixel planes pix (whose rows are whole
// words) into p: one row per output pixel, the kh·kw taps' words in (ky,
// kx) order, zero words (code 0) where a tap falls outside the input. A
// row's sum is the sum of its valid taps' pixel sums.
func im2colPlanes(p, pix *Planes, n, h, w, kh, kw, stride, pad, oh, ow int) {
	blk := pix.Words * pix.Bits
	rows := n * oh * ow
	p.Rows, p.K, p.Bits, p.Words = rows, kh*kw*pix.K, pix.Bits, kh*kw*pix.Words
	ld := kh * kw * blk
	p.Data = grow(p.Data, rows*ld)
	p.RowSum = grow32(p.RowSum, rows)
	r := 0
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				row := p.Data[r*ld : (r+1)*ld]
				var sum int32
				for ky := 0; ky < kh; ky++ {
					iy := y*stride - pad + ky
					for kx := 0; kx < kw; kx++ {
						ix := x*stride - pad + kx
						d := row[(ky*kw+kx)*blk : (ky*kw+kx+1)*blk]
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							clear(d)
							continue
						}
						q := (b*h+iy)*w + ix
						copy(d, pix.Data[q*blk:])
						sum += pix.RowSum[q]
					}
				}
				p.RowSum[r] = sum
				r++
			}
		}
	}
}

// im2colU8 writes one row of ld bytes per output pixel: the kh·kw·c codes
// under the kernel in (ky, kx, c) order, pad where the tap falls outside
// the input, and zeros in the ld − kh·kw·c tail.
func im2colU8(dst []uint8, ld int, src []uint8, n, h, w, c, kh, kw, stride, pad, oh, ow int, padCode uint8) {
	k := kh * kw * c
	r := 0
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				row := dst[r*ld : (r+1)*ld]
				for ky := 0; ky < kh; ky++ {
					iy := y*stride - pad + ky
					if iy < 0 || iy >= h {
						fillU8(row[ky*kw*c:(ky+1)*kw*c], padCode)
						continue
					}
					for kx := 0; kx < kw; kx++ {
						ix := x*stride - pad + kx
						d := row[(ky*kw+kx)*c : (ky*kw+kx+1)*c]
						if ix < 0 || ix >= w {
							fillU8(d, padCode)
							continue
						}
						copy(d, src[((b*h+iy)*w+ix)*c:])
					}
				}
				clear(row[k:])
				r++
			}
		}
	}
}

func fillU8(d []uint8, v uint8) {
	if v == 0 {
		clear(d)
		return
	}
	for i := range d {
		d[i] = v
	}
}

// packPlanesInto is PackPlanes into p's buffers, 64 codes per word, for
// codes known to fit nbits (1 or 2).
func packPlanesInto(p *Planes, q []uint8, rows, k, nbits int) {
	w := wordsFor(k)
	p.Rows, p.K, p.Bits, p.Words = rows, k, nbits, w
	p.Data = grow(p.Data, rows*w*nbits)
	p.RowSum = grow32(p.RowSum, rows)
	for r := 0; r < rows; r++ {
		p.RowSum[r] = packRow(p.Data[r*w*nbits:(r+1)*w*nbits], q[r*k:(r+1)*k], nbits)
	}
}

// Byte-parallel bit gathering: (v & lsb8)·gather8 >> 56 collects bit 0 of
// each byte of v (byte i → bit i) without carries, and v·sum8 >> 56 is
// the sum of v's bytes while it stays below 256.
const (
	lsb8    = 0x0101010101010101
	gather8 = 0x0102040810204080
)

// packRow packs one row of codes (< 2^nbits, nbits 1 or 2) into dst, its
// planes interleaved per word, and returns the sum of the codes.
func packRow(dst []uint64, q []uint8, nbits int) int32 {
	var sum uint64
	j := 0
	for ; len(q) >= 64; j, q = j+1, q[64:] {
		var b0, b1, s uint64
		for i := 0; i < 8; i++ {
			v := binary.LittleEndian.Uint64(q[8*i:])
			b0 |= ((v & lsb8) * gather8 >> 56) << (8 * i)
			b1 |= ((v >> 1 & lsb8) * gather8 >> 56) << (8 * i)
			s += v * lsb8 >> 56
		}
		sum += s
		dst[j*nbits] = b0
		if nbits == 2 {
			dst[j*nbits+1] = b1
		}
	}
	if len(q) == 0 {
		return int32(sum)
	}
	var b0, b1 uint64
	for i, v := range q {
		sum += uint64(v)
		b0 |= uint64(v&1) << uint(i)
		b1 |= uint64(v>>1&1) << uint(i)
	}
	dst[j*nbits] = b0
	if nbits == 2 {
		dst[j*nbits+1] = b1
	}
	return int32(sum)
}

// padPlanes packs the 2-bit codes of every input pixel (cin a multiple of
// 64) into sc.pix with pad pixels of code 0 around every sample:
// n×(h+2·pad)×(w+2·pad) rows of cin/64 words.
func (l *linear) padPlanes(sc *intScratch, codes []uint8, n int) *Planes {
	hp, wp, c := l.h+2*l.pad, l.w+2*l.pad, l.cin
	p := &sc.pix
	p.Rows, p.K, p.Bits, p.Words = n*hp*wp, c, 2, c/64
	blk := 2 * p.Words
	p.Data = grow(p.Data, p.Rows*blk)
	p.RowSum = grow32(p.RowSum, p.Rows)
	if l.pad > 0 {
		clear(p.Data)
		clear(p.RowSum)
	}
	for b := 0; b < n; b++ {
		for iy := 0; iy < l.h; iy++ {
			for ix := 0; ix < l.w; ix++ {
				q := (b*hp+iy+l.pad)*wp + ix + l.pad
				p.RowSum[q] = packRow(p.Data[q*blk:(q+1)*blk], codes[((b*l.h+iy)*l.w+ix)*c:][:c], 2)
			}
		}
	}
	return p
}

// rowSums returns the code sum of every output row: the sum of its taps'
// pixel sums in the padded planes pix.
func (l *linear) rowSums(sc *intScratch, pix *Planes, n, rows int) []int32 {
	sc.rsum = grow32(sc.rsum, rows)
	hp, wp := l.h+2*l.pad, l.w+2*l.pad
	r := 0
	for b := 0; b < n; b++ {
		for y := 0; y < l.oh; y++ {
			for x := 0; x < l.ow; x++ {
				var s int32
				for ky := 0; ky < l.kh; ky++ {
					row := pix.RowSum[(b*hp+y*l.stride+ky)*wp+x*l.stride:][:l.kw]
					for _, v := range row {
						s += v
					}
				}
				sc.rsum[r] = s
				r++
			}
		}
	}
	return sc.rsum
}

// bitSerialDirect computes the accumulators of output pixels [r0, r1)
// from the padded pixel planes pix without unfolding them: for each tap
// row ky the kw pixels' words are contiguous, so the kernel reads them in
// place, per weight plane, adding to the sums before it (integer
// arithmetic: the same result as one pass over the unfolded row).
func (l *linear) bitSerialDirect(acc []int32, pix *Planes, rsum []int32, r0, r1 int) {
	w := l.pp
	c, offMul := w.affine()
	np := panelsFor(w.N)
	pwLen := w.Words * PanelWidth
	blk := 2 * pix.Words
	hp, wp, plane, segw := l.h+2*l.pad, l.w+2*l.pad, l.oh*l.ow, l.kw*pix.Words
	var tmp [2 * PanelWidth]int32
	for p := 0; p < np; p++ {
		c0, nr := p*PanelWidth, min(PanelWidth, w.N-p*PanelWidth)
		for r := r0; r < r1; r += 2 {
			mr := min(2, r1-r)
			var base [2]int
			for i := range base {
				rr := r + min(i, mr-1)
				b, q := rr/plane, rr%plane
				base[i] = ((b*hp+q/l.ow*l.stride)*wp + q%l.ow*l.stride) * blk
			}
			off0, off1 := offMul*int(rsum[r]), offMul*int(rsum[r+mr-1])
			dst, ldo := &acc[r*l.cout+c0], l.cout
			direct := mr == 2 && nr == PanelWidth
			if !direct {
				dst, ldo = &tmp[0], PanelWidth
			}
			for ky := 0; ky < l.kh; ky++ {
				aoff := ky * wp * blk
				for b := 0; b < w.Bits; b++ {
					and2x32(&pix.Data[base[0]+aoff], &pix.Data[base[1]+aoff], &w.Data[(b*np+p)*pwLen+ky*segw*PanelWidth],
						segw, dst, ldo, c<<uint(b), off0, off1, ky+b)
				}
			}
			for i := 0; i < mr && !direct; i++ {
				copy(acc[(r+i)*l.cout+c0:(r+i)*l.cout+c0+nr], tmp[i*PanelWidth:])
			}
		}
	}
}
