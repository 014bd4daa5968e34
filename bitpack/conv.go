package bitpack

import (
	"math/bits"
	"slices"
	"unsafe"
)

// Map is a packed NHWC feature map of ±1 values: the C channels of pixel
// (n, h, w) occupy Words = ceil(C/64) words at Data[((n*H+h)*W+w)*Words:].
type Map struct {
	N, H, W, C, Words int
	Data              []uint64
}

// NewMap returns an all +1 map.
func NewMap(n, h, w, c int) *Map {
	wc := wordsFor(c)
	return &Map{N: n, H: h, W: w, C: c, Words: wc, Data: make([]uint64, n*h*w*wc)}
}

// PackNHWC packs the float NHWC tensor x by sign (x >= 0 → +1).
func PackNHWC(x []float32, n, h, w, c int) (*Map, error) {
	if n < 1 || h < 1 || w < 1 || c < 1 || len(x) != n*h*w*c {
		return nil, shapeErr("PackNHWC: len(x)=%d, want %d×%d×%d×%d", len(x), n, h, w, c)
	}
	m := NewMap(n, h, w, c)
	for p := 0; p < n*h*w; p++ {
		packSigns(m.Data[p*m.Words:(p+1)*m.Words], x[p*c:(p+1)*c])
	}
	return m, nil
}

// At returns channel c of pixel (n, h, w) as +1 or −1.
func (m *Map) At(n, h, w, c int) int {
	return 1 - 2*int(m.Data[((n*m.H+h)*m.W+w)*m.Words+c/64]>>(uint(c)%64)&1)
}

func (m *Map) check(name string) error {
	if m == nil || m.N < 1 || m.H < 1 || m.W < 1 || m.C < 1 || m.Words != wordsFor(m.C) ||
		len(m.Data) < m.N*m.H*m.W*m.Words {
		return shapeErr("%s: malformed map", name)
	}
	return nil
}

// PadMode says what the padded border of a convolution input holds.
type PadMode int

const (
	// PadOne pads with +1 (bit 0), as Larq's pad_values=1.
	PadOne PadMode = iota
	// PadZero pads with 0: padded taps contribute nothing, as when a
	// model is trained with zero padding of its ±1 activations.
	PadZero
)

// ConvWeights are OHWI binary weights prepacked for the GEMM: output
// channel o is row o of Panels, holding its KH·KW taps of ceil(Cin/64)
// words each (K = KH·KW·Cin values).
type ConvWeights struct {
	Cout, KH, KW, Cin int
	Panels            *Panels
	tapNeg            []int32 // [Cout][KH*KW]: −1 weights per tap, for PadZero
}

// PackConvWeights packs OHWI float weights w[Cout][KH][KW][Cin] by sign.
func PackConvWeights(w []float32, cout, kh, kw, cin int) (*ConvWeights, error) {
	if cout < 1 || kh < 1 || kw < 1 || cin < 1 || len(w) != cout*kh*kw*cin {
		return nil, shapeErr("PackConvWeights: len(w)=%d, want %d×%d×%d×%d", len(w), cout, kh, kw, cin)
	}
	wc := wordsFor(cin)
	taps := kh * kw
	m := &Matrix{Rows: cout, K: taps * cin, Words: taps * wc, Data: make([]uint64, cout*taps*wc)}
	cw := &ConvWeights{Cout: cout, KH: kh, KW: kw, Cin: cin, tapNeg: make([]int32, cout*taps)}
	for o := 0; o < cout; o++ {
		for t := 0; t < taps; t++ {
			dst := m.Data[(o*taps+t)*wc : (o*taps+t+1)*wc]
			packSigns(dst, w[(o*taps+t)*cin:(o*taps+t+1)*cin])
			n := 0
			for _, x := range dst {
				n += bits.OnesCount64(x)
			}
			cw.tapNeg[o*taps+t] = int32(n)
		}
	}
	cw.Panels = PackPanels(m)
	return cw, nil
}

// Conv is a binary 2-D convolution of a packed NHWC map with OHWI
// weights. Zero strides mean 1. A Conv keeps an im2col scratch buffer and
// must not be used by several goroutines at once.
type Conv struct {
	Weights          *ConvWeights // do not change after the first call
	StrideH, StrideW int
	PadH, PadW       int
	Pad              PadMode
	Threads          int // goroutines for the GEMM; <= 1 means one

	// scratch reused across calls
	col    Matrix  // bit-im2col
	border Matrix  // im2col rows of border pixels (PadZero)
	bRows  []int   // their row indices
	bCorr  []int32 // their corrections, len(bRows)×Cout
	bDots  []int32
	bIdx   []int32   // per output pixel of an image: its index in bRows, or -1
	bThr   []int32   // thresholds padded to whole panels (borderThr)
	bUniq  []int32   // the distinct rows of bCorr
	bSel   []int32   // per row of bRows: its correction's row in bUniq
	bKey   [6]int    // input H, W, strides, pads that bRows and bCorr were built for
	tPtrs  []*uint64 // implicit GEMM: per-chunk tile row pointers
	tBuf   []uint64  // and border tile rows
	tAcc   []int32   // and forwardThen's per-thread blocks of dots
}

func (c *Conv) strides() (int, int) { return max(c.StrideH, 1), max(c.StrideW, 1) }

// OutSize returns the output height and width for an h×w input.
func (c *Conv) OutSize(h, w int) (oh, ow int) {
	sh, sw := c.strides()
	return (h+2*c.PadH-c.Weights.KH)/sh + 1, (w+2*c.PadW-c.Weights.KW)/sw + 1
}

func (c *Conv) check(in *Map) (oh, ow int, err error) {
	if c.Weights == nil || c.Weights.Panels == nil {
		return 0, 0, shapeErr("Conv: no weights")
	}
	if err := in.check("Conv input"); err != nil {
		return 0, 0, err
	}
	if in.C != c.Weights.Cin {
		return 0, 0, shapeErr("Conv: input has %d channels, weights want %d", in.C, c.Weights.Cin)
	}
	if c.PadH < 0 || c.PadW < 0 || c.StrideH < 0 || c.StrideW < 0 {
		return 0, 0, shapeErr("Conv: negative stride or padding")
	}
	oh, ow = c.OutSize(in.H, in.W)
	if oh < 1 || ow < 1 || c.Weights.KH > in.H+2*c.PadH || c.Weights.KW > in.W+2*c.PadW {
		return 0, 0, shapeErr("Conv: %d×%d kernel does not fit %d×%d input with padding %d,%d",
			c.Weights.KH, c.Weights.KW, in.H, in.W, c.PadH, c.PadW)
	}
	return oh, ow, nil
}

// im2col fills c.col with one row per output pixel: the KH·KW input
// pixels under the kernel, each ceil(C/64) words, +1 (zero words) where
// the tap falls in the padding.
func (c *Conv) im2col(in *Map, oh, ow int) *Matrix {
	cw := c.Weights
	wc := in.Words
	taps := cw.KH * cw.KW
	rows := in.N * oh * ow
	m := &c.col
	m.Rows, m.K, m.Words = rows, taps*in.C, taps*wc
	m.Data = grow(m.Data, rows*m.Words)
	for r := 0; r < rows; r++ {
		c.im2colRow(m.Data[r*m.Words:(r+1)*m.Words], in, oh, ow, r)
	}
	return m
}

// im2colRow writes the im2col row of output pixel r (n·OH·OW + y·OW + x)
// into row.
func (c *Conv) im2colRow(row []uint64, in *Map, oh, ow, r int) {
	cw := c.Weights
	wc := in.Words
	sh, sw := c.strides()
	n, y, x := r/(oh*ow), r/ow%oh, r%ow
	for ky := 0; ky < cw.KH; ky++ {
		iy := y*sh - c.PadH + ky
		dst := row[ky*cw.KW*wc : (ky+1)*cw.KW*wc]
		if iy < 0 || iy >= in.H {
			clear(dst)
			continue
		}
		ix0 := x*sw - c.PadW
		if ix0 >= 0 && ix0+cw.KW <= in.W {
			// the whole kernel row lies inside: one copy
			base := ((n*in.H+iy)*in.W + ix0) * wc
			copy(dst, in.Data[base:base+cw.KW*wc])
			continue
		}
		for kx := 0; kx < cw.KW; kx++ {
			ix := ix0 + kx
			d := dst[kx*wc : (kx+1)*wc]
			if ix < 0 || ix >= in.W {
				clear(d)
				continue
			}
			base := ((n*in.H+iy)*in.W + ix) * wc
			copy(d, in.Data[base:base+wc])
		}
	}
}

// tileScratch returns thread t's pointer and row buffers of the implicit
// GEMM, from c's scratch sized for threads threads. Each thread's part
// starts on its own cache line: the kernel rewrites the pointers for
// every 4-row tile, and two threads writing one line would pass it back
// and forth between their cores at every tile.
func (c *Conv) tileScratch(threads, words int) func(t int) ([]*uint64, []uint64) {
	kh := c.Weights.KH
	ps, bs := padLine(4*kh), padLine(4*words) // 8-byte elements
	if len(c.tPtrs) < threads*ps {
		c.tPtrs = make([]*uint64, threads*ps)
	}
	c.tBuf = grow(c.tBuf, threads*bs)
	return func(t int) ([]*uint64, []uint64) {
		return c.tPtrs[t*ps : t*ps+4*kh], c.tBuf[t*bs : t*bs+4*words]
	}
}

// padLine returns n 8-byte elements rounded up to whole 64-byte cache
// lines plus one: consecutive parts of that stride share no line
// whatever the alignment of the buffer.
func padLine(n int) int { return (n+7)&^7 + 8 }

// prepTile sets ptrs to the rows r..r+mr−1 of the implicit im2col matrix
// (rows past mr repeat the last) and returns their segments: one per
// kernel row, straight from the input map, when every window lies inside
// the input; else one, the rows written into buf (4 rows of words).
func (c *Conv) prepTile(in *Map, oh, ow, r, mr int, ptrs []*uint64, buf []uint64) (segs, segWords int) {
	cw := c.Weights
	wc := in.Words
	sh, sw := c.strides()
	// Pixel r's coordinates by division once, the next ones by stepping
	// (the divisions per pixel were a tenth of a ResNet-18 forward's glue).
	n, y, x := r/(oh*ow), r/ow%oh, r%ow
	for i := 0; i < 4; i++ {
		if i > 0 && i < mr {
			if x++; x == ow {
				if x, y = 0, y+1; y == oh {
					y, n = 0, n+1
				}
			}
		}
		iy0, ix0 := y*sh-c.PadH, x*sw-c.PadW
		if iy0 < 0 || iy0+cw.KH > in.H || ix0 < 0 || ix0+cw.KW > in.W {
			words := len(buf) / 4
			for i := 0; i < 4; i++ {
				row := buf[i*words : (i+1)*words]
				c.im2colRow(row, in, oh, ow, r+min(i, mr-1))
				ptrs[i] = &row[0]
			}
			return 1, words
		}
		for ky := 0; ky < cw.KH; ky++ {
			ptrs[ky*4+i] = &in.Data[((n*in.H+iy0+ky)*in.W+ix0)*wc]
		}
	}
	return cw.KH, cw.KW * wc
}

// implicitGEMM computes the dots of output rows [r0,r1) with the
// assembly kernel straight from the input map (see prepTile) into out,
// whose first row is output row o0.
func (c *Conv) implicitGEMM(out []int32, o0 int, in *Map, oh, ow, r0, r1 int, ptrs []*uint64, buf []uint64) {
	w := c.Weights.Panels
	cout := w.N
	var tmp [4 * PanelWidth]int32
	pwLen := w.Words * PanelWidth
	for r := r0; r < r1; r += 4 {
		mr := min(4, r1-r)
		segs, segWords := c.prepTile(in, oh, ow, r, mr, ptrs, buf)
		o := out[(r-o0)*cout : (r-o0+mr)*cout]
		for p := 0; p < panelsFor(cout); p++ {
			pw := &w.Data[p*pwLen]
			c0 := p * PanelWidth
			nr := min(PanelWidth, cout-c0)
			if mr == 4 && nr == PanelWidth {
				xnor4x32ind(&ptrs[0], segs, segWords, pw, &o[c0], cout, w.K)
				continue
			}
			xnor4x32ind(&ptrs[0], segs, segWords, pw, &tmp[0], PanelWidth, w.K)
			for i := 0; i < mr; i++ {
				copy(o[i*cout+c0:i*cout+c0+nr], tmp[i*PanelWidth:])
			}
		}
	}
}

// implicitGEMMThr is implicitGEMM with the fused threshold, writing the
// packed bits of rows [r0,r1) into out (row stride ldo words).
func (c *Conv) implicitGEMMThr(out []uint64, ldo int, in *Map, oh, ow, r0, r1 int, popThr []int64, flip []uint32, ptrs []*uint64, buf []uint64, bt *borderThr) {
	w := c.Weights.Panels
	var tmpBits [4]uint32
	pwLen := w.Words * PanelWidth
	for r := r0; r < r1; r += 4 {
		mr := min(4, r1-r)
		segs, segWords := c.prepTile(in, oh, ow, r, mr, ptrs, buf)
		if bt != nil && bt.touches(r, mr) {
			c.borderTile(out, ldo, r, mr, ptrs, segs, segWords, flip, bt)
			continue
		}
		for p := 0; p < panelsFor(w.N); p++ {
			pw := &w.Data[p*pwLen]
			c0 := p * PanelWidth
			if mr == 4 {
				dst := (*uint32)(unsafe.Add(unsafe.Pointer(&out[r*ldo]), 4*p))
				xnor4x32indthr(&ptrs[0], segs, segWords, pw, dst, ldo*8, &popThr[c0], flip[p])
				continue
			}
			xnor4x32indthr(&ptrs[0], segs, segWords, pw, &tmpBits[0], 4, &popThr[c0], flip[p])
			for i := 0; i < mr; i++ {
				setPanelBits(out[(r+i)*ldo:], c0, tmpBits[i])
			}
		}
	}
}

// borderThr is what implicitGEMMThr needs to threshold the output pixels
// whose windows cover PadZero padding itself: their integer dots need the
// correction before the threshold, so their tiles run the dot kernel.
type borderThr struct {
	idx  []int32 // per pixel of an image: index into corr rows, or -1
	corr []int32 // len(rows)×Cout corrections (Conv.borders)
	thr  []int32 // Thresholds.Thr, padded to whole panels
	ohw  int
}

// newBorderThr pads thr to whole panels for thrBits32 (the padding lanes'
// bits are masked off).
func (c *Conv) newBorderThr(thr []int32, corr []int32, ohw int) *borderThr {
	n := panelsFor(c.Weights.Cout) * PanelWidth
	c.bThr = grow32(c.bThr, n)
	copy(c.bThr, thr)
	clear(c.bThr[len(thr):])
	return &borderThr{idx: c.bIdx, corr: corr, thr: c.bThr, ohw: ohw}
}

// touches reports whether output rows r..r+mr hold a border pixel.
func (bt *borderThr) touches(r, mr int) bool {
	for i := range mr {
		if bt.idx[(r+i)%bt.ohw] >= 0 {
			return true
		}
	}
	return false
}

// borderTile thresholds one tile of 4 output rows through integer dots:
// the kernel's dot (padding read as +1), plus the PadZero correction on
// border pixels, against Thr, then the flip: the bits borderSigns computes
// from im2col rows, without unfolding the rows a second time.
func (c *Conv) borderTile(out []uint64, ldo, r, mr int, ptrs []*uint64, segs, segWords int, flip []uint32, bt *borderThr) {
	w, cout := c.Weights.Panels, c.Weights.Cout
	var tmp [4 * PanelWidth]int32
	pwLen := w.Words * PanelWidth
	for p := 0; p < panelsFor(w.N); p++ {
		c0 := p * PanelWidth
		n := min(PanelWidth, cout-c0)
		xnor4x32ind(&ptrs[0], segs, segWords, &w.Data[p*pwLen], &tmp[0], PanelWidth, w.K)
		for i := 0; i < mr; i++ {
			if bi := bt.idx[(r+i)%bt.ohw]; bi >= 0 {
				d := tmp[i*PanelWidth : i*PanelWidth+n]
				corr := bt.corr[int(bi)*cout+c0:][:n]
				for j := range d {
					d[j] += corr[j]
				}
			}
			bits := thrBits32(&tmp[i*PanelWidth], &bt.thr[c0])&uint32(1<<n-1) ^ flip[p]
			setPanelBits(out[(r+i)*ldo:], c0, bits)
		}
	}
}

// borderCorrection calls f(row, corr), in increasing row order, for
// every output pixel of one image whose kernel window covers padding
// (row = y·OW + x), with corr[o] the PadZero correction for output
// channel o: dot = dot₁ − (Cin·nInvalid − 2·negInvalid[o]).
func (c *Conv) borderCorrection(in *Map, oh, ow int, f func(row int, corr []int32)) {
	cw := c.Weights
	taps := cw.KH * cw.KW
	sh, sw := c.strides()
	corr := make([]int32, cw.Cout)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			iy0, ix0 := y*sh-c.PadH, x*sw-c.PadW
			if iy0 >= 0 && iy0+cw.KH <= in.H && ix0 >= 0 && ix0+cw.KW <= in.W {
				continue
			}
			clear(corr)
			for ky := 0; ky < cw.KH; ky++ {
				for kx := 0; kx < cw.KW; kx++ {
					iy, ix := iy0+ky, ix0+kx
					if iy >= 0 && iy < in.H && ix >= 0 && ix < in.W {
						continue
					}
					t := ky*cw.KW + kx
					for o := range corr {
						corr[o] -= int32(cw.Cin) - 2*cw.tapNeg[o*taps+t]
					}
				}
			}
			f(y*ow+x, corr)
		}
	}
}

// Forward computes the integer dots out[((n*OH+y)*OW+x)*Cout+o] (NHWC).
func (c *Conv) Forward(out []int32, in *Map) error {
	return c.forwardThen(out, in, nil)
}

// forwardThen is Forward, calling then(r0, r1, acc) (when not nil) on
// each block of output rows (thenBlockBytes of dots) as soon as their
// dots acc (rows r0..r1−1) are final, in the goroutine that computed
// them: a fused epilogue needs no second parallel pass. With the
// assembly kernels the blocks' dots go to a per-thread buffer, which
// stays in L1, instead of out.
func (c *Conv) forwardThen(out []int32, in *Map, then func(r0, r1 int, acc []int32)) error {
	oh, ow, err := c.check(in)
	if err != nil {
		return err
	}
	cout := c.Weights.Cout
	nrows := in.N * oh * ow
	if len(out) < nrows*cout {
		return shapeErr("Conv.Forward: len(out)=%d, want %d", len(out), nrows*cout)
	}
	var bRows []int
	var bSel, bUniq []int32
	if c.Pad == PadZero {
		bRows, _ = c.borders(in, oh, ow)
		bSel, bUniq = c.bSel, c.bUniq
	}
	ohw := oh * ow
	threads := c.splitThreads(nrows)
	var a *Matrix
	var scratch func(int) ([]*uint64, []uint64)
	if kernels.popcnt {
		scratch = c.tileScratch(threads, c.Weights.Panels.Words)
	} else {
		a = c.im2col(in, oh, ow)
	}
	blk, accLen := nrows, 0 // accLen: per-thread dots buffer (0: none)
	if then != nil {
		blk = max(4, thenBlockBytes/(4*cout)&^3)
		if a == nil {
			accLen = blk*cout + 16 // threads' blocks on their own lines
			c.tAcc = grow32(c.tAcc, threads*accLen)
		}
	}
	parallelChunks(nrows, threads, func(t, r0, r1 int) {
		for b0 := r0; b0 < r1; b0 += blk {
			b1 := min(b0+blk, r1)
			dst, o0 := out, 0 // dst's first row is output row o0
			if accLen > 0 {
				dst, o0 = c.tAcc[t*accLen:(t+1)*accLen], b0
			}
			if a == nil {
				ptrs, buf := scratch(t)
				c.implicitGEMM(dst, o0, in, oh, ow, b0, b1, ptrs, buf)
			} else {
				xnorGEMM(out, cout, a, c.Weights.Panels, b0, b1)
			}
			chunkBorders(bRows, ohw, b0, b1, func(i0, i1, base int) {
				for i := i0; i < i1; i++ {
					r := base + bRows[i] - o0
					u := int(bSel[i])
					addInt32Row(dst[r*cout:(r+1)*cout], bUniq[u*cout:(u+1)*cout])
				}
			})
			if then != nil {
				then(b0, b1, dst[(b0-o0)*cout:(b1-o0)*cout])
			}
		}
	})
	return nil
}

// thenBlockBytes bounds the dots forwardThen computes before handing
// them to then: a block of rows whose int32 dots fit in L1 with the
// epilogue's other rows (ResNet-18's 56×56×64 layers write 800 KB of
// dots, past L2, when a chunk runs whole).
const thenBlockBytes = 32 << 10

// gemmMinParallel is the fewest tile words (4-row tiles × panels × words)
// a conv splits over two threads, and each further thread needs half as
// many more: about 15 µs of kernel time with its epilogue (ResNet-18's
// 3×3/2 conv to 256 channels, 7056 tile words, took 55 µs on one core),
// against 1–2 µs to hand a region to the package's helpers (a variable
// for the tests). The output elements count too, outElemsPerWord to a
// tile word: the epilogue writes them as floats, and for a 1×1 conv over
// few input words it is most of the time (ResNet-18's 1×1/2 shortcut to
// 128 channels, 784 tile words and 100352 outputs, took 56 µs on one
// core, and ran on one thread at batch 1 when only the tile words
// counted).
var gemmMinParallel = 1 << 11

// outElemsPerWord is the output elements that count as one tile word in
// splitThreads, and rowWords the tile words each output row counts for
// its per-row work (ResNet-20's first 3×3 convs, 16 channels: 768 tile
// words and 1024 rows took 43 µs on one core).
const outElemsPerWord, rowWords = 16, 4

// splitThreads returns the goroutines for a GEMM over rows output rows:
// c.Threads, fewer when the work is too small to repay waking them.
func (c *Conv) splitThreads(rows int) int {
	w := c.Weights.Panels
	work := (rows+3)/4*panelsFor(w.N)*w.Words + rows*(rowWords+w.N/outElemsPerWord)
	return max(min(c.Threads, 2*work/gemmMinParallel), 1)
}

// borders returns the output rows of one image whose window covers
// padding (y·OW + x, increasing) and their corrections
// (len(rows)×Cout), cached for the input shape; every image of a batch
// has the same.
func (c *Conv) borders(in *Map, oh, ow int) (rows []int, corrs []int32) {
	if key := [6]int{in.H, in.W, c.StrideH, c.StrideW, c.PadH, c.PadW}; c.bKey != key || c.bRows == nil {
		rows, corrs := c.bRows[:0], c.bCorr[:0]
		c.borderCorrection(in, oh, ow, func(row int, corr []int32) {
			rows = append(rows, row)
			corrs = append(corrs, corr...)
		})
		c.bRows, c.bCorr, c.bKey = rows, corrs, key
		if rows == nil {
			c.bRows = []int{}
		}
		c.bIdx = grow32(c.bIdx, oh*ow)
		for i := range c.bIdx {
			c.bIdx[i] = -1
		}
		for i, r := range c.bRows {
			c.bIdx[r] = int32(i)
		}
		c.dedupBorders()
	}
	return c.bRows, c.bCorr
}

// dedupBorders sets bUniq to the distinct correction rows of bCorr and
// bSel to each border row's index among them: the corrections depend
// only on which taps of the window fall in the padding, a few cases (8
// for a 3×3 window and padding 1), so forwardThen reads a few rows that
// stay in cache instead of one per border pixel.
func (c *Conv) dedupBorders() {
	cout := c.Weights.Cout
	c.bUniq, c.bSel = c.bUniq[:0], c.bSel[:0]
	for i := range c.bRows {
		v := c.bCorr[i*cout : (i+1)*cout]
		j := 0
		for j*cout < len(c.bUniq) && !slices.Equal(c.bUniq[j*cout:(j+1)*cout], v) {
			j++
		}
		if j*cout == len(c.bUniq) {
			c.bUniq = append(c.bUniq, v...)
		}
		c.bSel = append(c.bSel, int32(j))
	}
}

// chunkBorders calls f(i0, i1, base) for each image whose output rows
// meet [r0, r1): rows[i0:i1] (one image's border rows, see borders) are
// that image's border rows in the range, each at output row base+rows[i].
func chunkBorders(rows []int, ohw, r0, r1 int, f func(i0, i1, base int)) {
	if len(rows) == 0 || r0 >= r1 {
		return
	}
	for n := r0 / ohw; n*ohw < r1; n++ {
		base := n * ohw
		i0, _ := slices.BinarySearch(rows, r0-base)
		i1, _ := slices.BinarySearch(rows, r1-base)
		if i0 < i1 {
			f(i0, i1, base)
		}
	}
}

// ForwardSign computes sign(BN(conv)) through the folded thresholds t and
// writes the packed result into out (N×OH×OW×Cout), ready for the next
// binary layer. The threshold is applied inside the micro-kernel.
func (c *Conv) ForwardSign(out *Map, in *Map, t *Thresholds) error {
	return c.forwardSign(out, in, t, nil, nil)
}

// forwardSign is ForwardSign with t's popcount thresholds precomputed
// (t.popThresholds(K); nil: computed here).
func (c *Conv) forwardSign(out *Map, in *Map, t *Thresholds, pop []int64, flipMask []uint32) error {
	oh, ow, err := c.check(in)
	if err != nil {
		return err
	}
	cw := c.Weights
	if t == nil || len(t.Thr) != cw.Cout || len(t.Flip) != cw.Cout {
		return shapeErr("Conv.ForwardSign: thresholds for %d channels", cw.Cout)
	}
	if err := out.check("Conv.ForwardSign output"); err != nil {
		return err
	}
	if out.N != in.N || out.H != oh || out.W != ow || out.C != cw.Cout {
		return shapeErr("Conv.ForwardSign: output %d×%d×%d×%d, want %d×%d×%d×%d",
			out.N, out.H, out.W, out.C, in.N, oh, ow, cw.Cout)
	}
	k, words, nrows := cw.Panels.K, cw.Panels.Words, in.N*oh*ow
	popThr, flip := pop, flipMask
	if popThr == nil {
		popThr, flip = t.popThresholds(k)
	}
	var a *Matrix
	var scratch func(int) ([]*uint64, []uint64)
	threads := c.splitThreads(nrows)
	if kernels.popcnt {
		scratch = c.tileScratch(threads, words)
	} else {
		a = c.im2col(in, oh, ow)
	}
	var bRows []int
	var bCorr []int32
	var bt *borderThr
	if c.Pad == PadZero {
		bRows, bCorr = c.borders(in, oh, ow)
		if a == nil && len(bRows) > 0 {
			bt = c.newBorderThr(t.Thr, bCorr, oh*ow)
		} else {
			b := &c.border // the border rows of every image, image by image
			b.Rows, b.K, b.Words = in.N*len(bRows), k, words
			b.Data = grow(b.Data, b.Rows*words)
			c.bDots = grow32(c.bDots, b.Rows*cw.Cout)
		}
	}
	parallelChunks(nrows, threads, func(ti, r0, r1 int) {
		if a == nil {
			ptrs, buf := scratch(ti)
			c.implicitGEMMThr(out.Data, out.Words, in, oh, ow, r0, r1, popThr, flip, ptrs, buf, bt)
		} else {
			xnorGEMMThr(out.Data, out.Words, a, cw.Panels, t, popThr, flip, r0, r1)
		}
		if panelsFor(cw.Cout)%2 == 1 {
			// The panels cover only the low half of the last word.
			for r := r0; r < r1; r++ {
				out.Data[(r+1)*out.Words-1] &= 0xFFFFFFFF
			}
		}
		if bt == nil { // without the implicit GEMM, border rows are redone
			chunkBorders(bRows, oh*ow, r0, r1, func(i0, i1, base int) {
				c.borderSigns(out, in, oh, ow, t, flip, bRows, bCorr, i0, i1, base)
			})
		}
	})
	return nil
}

// borderSigns redoes the border rows rows[i0:i1] of the image whose
// output rows start at base (see chunkBorders): integer dots of their
// im2col rows, the PadZero correction, the threshold.
func (c *Conv) borderSigns(out, in *Map, oh, ow int, t *Thresholds, flip []uint32, rows []int, corrs []int32, i0, i1, base int) {
	b, cw := &c.border, c.Weights
	words, cout := b.Words, cw.Cout
	j0 := base / (oh * ow) * len(rows) // b's row of rows[0] in this image
	for i := i0; i < i1; i++ {
		c.im2colRow(b.Data[(j0+i)*words:(j0+i+1)*words], in, oh, ow, base+rows[i])
	}
	dots := c.bDots
	xnorGEMM(dots, cout, b, cw.Panels, j0+i0, j0+i1)
	for i := i0; i < i1; i++ {
		d, corr := dots[(j0+i)*cout:(j0+i+1)*cout], corrs[i*cout:(i+1)*cout]
		for ch := range d {
			d[ch] += corr[ch]
		}
		r := base + rows[i]
		o := out.Data[r*out.Words : (r+1)*out.Words]
		for w := range o {
			lo, hi := min(w*64, cout), min(w*64+64, cout)
			f := uint64(flip[2*w])
			if 2*w+1 < len(flip) {
				f |= uint64(flip[2*w+1]) << 32
			}
			o[w] = thrBits(d[lo:hi], t.Thr[lo:hi]) ^ f
		}
	}
}

// xnorGEMMThr is xnorGEMM with the fused threshold, writing packed bits
// (row stride ldo words) for rows [r0,r1).
func xnorGEMMThr(out []uint64, ldo int, a *Matrix, w *Panels, t *Thresholds, popThr []int64, flip []uint32, r0, r1 int) {
	var tmp [4 * PanelWidth]int32
	var tmpBits [4]uint32
	pwLen := w.Words * PanelWidth
	for p := 0; p < panelsFor(w.N); p++ {
		pw := w.Data[p*pwLen : (p+1)*pwLen]
		c0 := p * PanelWidth
		nr := min(PanelWidth, w.N-c0)
		for r := r0; r < r1; r += 4 {
			mr := min(4, r1-r)
			if kernels.popcnt {
				rp := rowPtrs(a.Data, a.Words, r, mr)
				if mr == 4 {
					dst := (*uint32)(unsafe.Add(unsafe.Pointer(&out[r*ldo]), 4*p))
					xnor4x32thr(rp[0], rp[1], rp[2], rp[3], &pw[0], a.Words, dst, ldo*8, &popThr[c0], flip[p])
					continue
				}
				xnor4x32thr(rp[0], rp[1], rp[2], rp[3], &pw[0], a.Words, &tmpBits[0], 4, &popThr[c0], flip[p])
			} else {
				xnorTileGo(tmp[:], PanelWidth, a.Data[r*a.Words:], a.Words, mr, pw, w.Words, nr, a.K)
				for i := 0; i < mr; i++ {
					tmpBits[i] = uint32(thrBits(tmp[i*PanelWidth:i*PanelWidth+nr], t.Thr[c0:c0+nr])) ^ flip[p]
				}
			}
			for i := 0; i < mr; i++ {
				setPanelBits(out[(r+i)*ldo:], c0, tmpBits[i])
			}
		}
	}
}

// thrBits returns bit j = (d[j] < thr[j]) for len(d) <= 64 channels: the
// output bits (1 = −1) before the flip, without branches.
func thrBits(d, thr []int32) uint64 {
	thr = thr[:len(d)]
	var b uint64
	for j, v := range d {
		b |= uint64(int64(v)-int64(thr[j])) >> 63 << uint(j)
	}
	return b
}

func grow(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// setPanelBits writes the 32 output bits of the panel starting at channel
// c0 (a multiple of PanelWidth) into the packed row, leaving the other
// half of their word as it is.
func setPanelBits(row []uint64, c0 int, bits uint32) {
	word := &row[c0/64]
	sh := uint(c0 % 64)
	*word = *word&^(uint64(0xFFFFFFFF)<<sh) | uint64(bits)<<sh
}
