package gemm

import (
	"fmt"
	"math/bits"
	"sync"
)

// Implicit-GEMM convolution: the products of a convolution's forward and
// backward passes, with the im2col matrix never materialised. The GEMM
// driver packs its panels of im2col(x) straight from the NHWC image (see
// packConvA and packConvB), so the only copies are the cache-sized packed
// panels the micro-kernels need anyway.

// convOperand is an im2col(x) matrix standing in for op(A) or op(B).
type convOperand struct {
	s ConvShape
	x []float32
}

// ConvForward sets out = im2col(x) × wᵀ, the convolution of the NHWC input
// x with the OHWI filter w ([o][KH][KW][C]): out is [N*OH*OW][o] row-major
// (NHWC). A filter that fits in cache runs as a direct convolution
// (convdirect.go), summing kernel rows one at a time; others equal Sgemm
// on Im2col's matrix bit for bit. Either way the result does not depend
// on the thread count.
func ConvForward(s ConvShape, x, w []float32, o int, out []float32) error {
	if err := convCheck("ConvForward", s, x, o); err != nil {
		return err
	}
	k := s.KH * s.KW * s.C
	m := s.N * s.OutH() * s.OutW()
	if err := checkMatrix("B", w, o, k, k); err != nil {
		return err
	}
	if err := checkMatrix("C", out, m, o, o); err != nil {
		return err
	}
	src := matrixB(true, w, k, o)
	return convForward(s, x, &src, o, out)
}

// convForward is ConvForward after its checks, by the filter src (k×o):
// the caller's, or the flipped one of an input gradient. The filter is
// packed once, not per part of the GEMM (prepack.go).
func convForward(s ConvShape, x []float32, src *bSource, o int, out []float32) error {
	k := s.KH * s.KW * s.C
	m := s.N * s.OutH() * s.OutW()
	if useBLAS.Load() {
		b, ldb, trans, release := src.dense()
		defer release()
		return viaCol(s, x, func(col []float32) error {
			return Sgemm(false, trans, m, o, k, 1, col, k, b, ldb, 0, out, o)
		})
	}
	kern := active.Load()
	if directOK(kern, s, o) {
		wp := getFloats(ceilDiv(o, kern.nr) * kern.nr * k)
		defer putFloats(wp)
		src.packRows(*wp, 0, k, kern.nr)
		directRun(kern, s, x, *wp, o, out, 1, nil)
		return nil
	}
	g := newCall(kern, false, true, m, o, k, nil, k, nil, k, out, o)
	g.ca = convOperand{s: s, x: x}
	buf := packWhole(kern, src, k, o, Threads(), &g.whole)
	g.pb = &g.whole
	g.run(Threads())
	putFloats(buf)
	return nil
}

// ConvGradWeights sets dw = gᵀ × im2col(x): the gradient of the loss with
// respect to the OHWI filter, given the output gradient g ([N*OH*OW][o]).
// dw is [o][KH*KW*C]. A stride-1 conv whose filter fits in cache runs
// directly (convdirect_grad.go); others equal Sgemm on Im2col's matrix
// bit for bit.
func ConvGradWeights(s ConvShape, g, x []float32, o int, dw []float32) error {
	if err := convCheck("ConvGradWeights", s, x, o); err != nil {
		return err
	}
	k := s.KH * s.KW * s.C
	m := s.N * s.OutH() * s.OutW()
	if err := checkMatrix("A", g, m, o, o); err != nil {
		return err
	}
	if err := checkMatrix("C", dw, o, k, k); err != nil {
		return err
	}
	if useBLAS.Load() {
		return viaCol(s, x, func(col []float32) error {
			return Sgemm(true, false, o, k, m, 1, g, o, col, k, 0, dw, k)
		})
	}
	kern := active.Load()
	if directGradOK(kern, s, o) {
		convGradWeightsDirect(kern, s, g, x, o, dw)
		return nil
	}
	if inPlaceGradOK(kern, s, o) {
		convGradWeightsInPlace(kern, s, g, x, o, dw)
		return nil
	}
	c := newCall(kern, true, false, o, k, m, g, o, nil, k, dw, k)
	c.cb = convOperand{s: s, x: x}
	c.run(Threads())
	return nil
}

// ConvGradInput sets dx, the gradient with respect to the NHWC input, from
// the output gradient g ([N*OH*OW][o]) and the OHWI filter w. A stride-1
// convolution's input gradient is itself a convolution: of g, padded by
// K-1-P, with w flipped in space and its O and C axes swapped, so it runs
// as ConvForward with no col2im. Other convolutions multiply g by w, a
// few images at a time, into a cache-sized im2col-shaped scratch matrix
// and scatter that as Col2im does.
func ConvGradInput(s ConvShape, g, w []float32, o int, dx []float32) error {
	if err := convCheck("ConvGradInput", s, dx, o); err != nil {
		return err
	}
	k := s.KH * s.KW * s.C
	m := s.N * s.OutH() * s.OutW()
	if err := checkMatrix("A", g, m, o, o); err != nil {
		return err
	}
	if err := checkMatrix("B", w, o, k, k); err != nil {
		return err
	}
	if t, ok := transposedShape(s, o); ok {
		src := flippedB(w, s, o)
		return convForward(t, g, &src, s.C, dx)
	}
	j := gradInputPool.Get().(*gradInputJob)
	perImage := s.OutH() * s.OutW() * k
	t := Threads()
	// Chunks fit maxScatterCol, and there are at least two per goroutine.
	chunk := max(1, min(maxScatterCol/perImage, ceilDiv(s.N, 2*t)))
	*j = gradInputJob{s: s, g: g, w: w, dx: dx, o: o, chunk: chunk}
	if !useBLAS.Load() {
		// Every chunk multiplies by all of w: pack it once.
		src := matrixB(false, w, k, k)
		buf := packWhole(active.Load(), &src, o, k, t, &j.pb)
		defer putFloats(buf)
	}
	parallel(j, ceilDiv(s.N, j.chunk), t)
	*j = gradInputJob{}
	gradInputPool.Put(j)
	return nil
}

// minTransposedC is the fewest input channels for which ConvGradInput
// runs a stride-1 convolution's input gradient as a transposed conv.
const minTransposedC = 16

// maxScatterCol bounds, in floats, the im2col-shaped scratch one part of
// a strided ConvGradInput fills before scattering it (at least one image).
const maxScatterCol = 1 << 18

// gradInputJob is a strided ConvGradInput split over chunks of images:
// each part multiplies its images' rows of g by w into scratch and
// scatters that with Col2im, all on one goroutine, so the result does not
// depend on the thread count.
type gradInputJob struct {
	s        ConvShape
	g, w, dx []float32
	o, chunk int
	pb       PackedB // w packed once for all chunks
}

var gradInputPool = sync.Pool{New: func() any { return new(gradInputJob) }}

func (j *gradInputJob) runPart(i int) {
	s := j.s
	n0 := i * j.chunk
	s.N = min(j.s.N, n0+j.chunk) - n0
	m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
	p := getFloats(m * k)
	defer putFloats(p)
	g := j.g[n0*s.OutH()*s.OutW()*j.o:]
	if useBLAS.Load() {
		OpenBLAS(false, false, m, k, j.o, 1, g, j.o, j.w, k, 0, *p, k)
	} else {
		c := newCall(j.pb.kern, false, false, m, k, j.o, g, j.o, nil, k, *p, k)
		c.pb = &j.pb
		c.run(1)
	}
	dx := j.dx[n0*s.H*s.W*s.C : (n0+s.N)*s.H*s.W*s.C]
	clear(dx)
	for n := range s.N {
		convImage(&s, dx, *p, n, true)
	}
}

// convCheck validates s and the length of the image slice x.
func convCheck(op string, s ConvShape, x []float32, o int) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("gemm: %s: %w", op, err)
	}
	if o < 1 {
		return fmt.Errorf("gemm: %s: %d output channels: %w", op, o, ErrShape)
	}
	if len(x) < s.InputLen() {
		return fmt.Errorf("gemm: %s: %+v needs %d image floats, have %d: %w", op, s, s.InputLen(), len(x), ErrShape)
	}
	return nil
}

// transposedShape is the stride-1 convolution whose forward pass computes
// s's input gradient from an [N][OH][OW][o] output gradient: pad K-1-P
// keeps the output at H×W. ok is false for strides above 1, P > K-1, and
// where the scatter path is faster (see below).
func transposedShape(s ConvShape, o int) (ConvShape, bool) {
	if s.StrideH != 1 || s.StrideW != 1 || s.PadH > s.KH-1 || s.PadW > s.KW-1 {
		return ConvShape{}, false
	}
	// The transposed conv multiplies the padding's zeros too, and its C
	// is the GEMM's N: with few channels (LeNet's 6) or much more padding
	// than the original (LeNet's unpadded 5×5: pad 4), scattering is
	// cheaper.
	if s.C < minTransposedC || 2*(s.KH-1-s.PadH) > s.KH || 2*(s.KW-1-s.PadW) > s.KW {
		return ConvShape{}, false
	}
	t := ConvShape{N: s.N, H: s.OutH(), W: s.OutW(), C: o, KH: s.KH, KW: s.KW,
		StrideH: 1, StrideW: 1, PadH: s.KH - 1 - s.PadH, PadW: s.KW - 1 - s.PadW}
	return t, t.Validate() == nil && t.OutH() == s.H && t.OutW() == s.W
}

// flipFilter sets wt[c][kh][kw][o] = w[o][KH-1-kh][KW-1-kw][c].
func flipFilter(wt, w []float32, s ConvShape, o int) {
	kh, kw, c := s.KH, s.KW, s.C
	for oi := range o {
		for r := range kh {
			for q := range kw {
				src := w[((oi*kh+r)*kw+q)*c:][:c]
				base := ((kh-1-r)*kw+(kw-1-q))*o + oi
				for ci, v := range src {
					wt[ci*kh*kw*o+base] = v
				}
			}
		}
	}
}

// viaCol materialises im2col(x) in scratch for the OpenBLAS route.
func viaCol(s ConvShape, x []float32, f func(col []float32) error) error {
	p := getFloats(s.ColLen())
	defer putFloats(p)
	Im2col(s, x, *p)
	return f(*p)
}

// floatPools hold temporary float buffers (padded images, flipped
// filters, scatter scratch) by size class: class b holds capacity 1<<b,
// so a call finds one of the size it needs, and a training step, whose
// layers ask for many sizes, does not allocate. They are keepPools, not
// sync.Pools: a garbage collection (a ResNet-18 step runs several) would
// empty a sync.Pool and the next layers would allocate megabytes again.
var floatPools [48]keepPool[*[]float32]

// getFloats returns a buffer of n floats (old contents are garbage); the
// caller gives it back with putFloats.
func getFloats(n int) *[]float32 {
	b := bits.Len(uint(max(n, 1) - 1))
	if p, ok := floatPools[b].get(); ok {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n, 1<<b)
	return &s
}

func putFloats(p *[]float32) {
	floatPools[bits.Len(uint(cap(*p)-1))].put(p)
}

// keepPool is a free list that, unlike sync.Pool, survives garbage
// collections. It keeps at most maxKept items: as many as were ever in
// use at once, in practice (a few per goroutine).
type keepPool[T any] struct {
	mu    sync.Mutex
	items []T
}

// maxKept bounds each keepPool.
const maxKept = 64

func (p *keepPool[T]) get() (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var zero T
	if len(p.items) == 0 {
		return zero, false
	}
	x := p.items[len(p.items)-1]
	p.items[len(p.items)-1] = zero
	p.items = p.items[:len(p.items)-1]
	return x, true
}

func (p *keepPool[T]) put(x T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.items) < maxKept {
		p.items = append(p.items, x)
	}
}

// colCursor walks the rows of im2col(x), one output pixel each, without
// dividing per row.
type colCursor struct {
	s        *ConvShape
	oh, ow   int
	n, y, xo int
}

func newColCursor(s *ConvShape, row int) colCursor {
	oh, ow := s.OutH(), s.OutW()
	n := row / (oh * ow)
	r := row - n*oh*ow
	return colCursor{s: s, oh: oh, ow: ow, n: n, y: r / ow, xo: r % ow}
}

func (c *colCursor) next() {
	if c.xo++; c.xo == c.ow {
		c.xo = 0
		if c.y++; c.y == c.oh {
			c.y = 0
			c.n++
		}
	}
}

// seg writes im2col row (the cursor's pixel) columns p0..p0+len(dst) into
// dst, zeros where the receptive field overlaps the padding.
func (c *colCursor) seg(x []float32, p0 int, dst []float32) {
	s := c.s
	ch, wc := s.C, s.W*s.C
	kwc := s.KW * ch
	ih0 := c.y*s.StrideH - s.PadH
	iw0 := c.xo*s.StrideW - s.PadW
	lo, hi := max(0, -iw0)*ch, min(s.KW, s.W-iw0)*ch // in-bounds part of a kernel row
	base := c.n*s.H*wc + iw0*ch
	if p0 == 0 && len(dst) == s.KH*kwc && lo == 0 && hi == kwc && ih0 >= 0 && ih0+s.KH <= s.H {
		// The whole receptive field, inside the image: KH runs of KW*C.
		o := base + ih0*wc
		for r := range s.KH {
			copyShort(dst[r*kwc:r*kwc+kwc], x[o+r*wc:o+r*wc+kwc])
		}
		return
	}
	r := p0 / kwc
	q := p0 - r*kwc
	for len(dst) > 0 {
		take := min(len(dst), kwc-q)
		d := dst[:take]
		ih := ih0 + r
		if ih < 0 || ih >= s.H || lo >= hi {
			clear(d)
		} else {
			a, b := max(q, lo), min(q+take, hi)
			if a >= b {
				clear(d)
			} else {
				for i := range d[:a-q] {
					d[i] = 0
				}
				o := base + ih*wc
				copyShort(d[a-q:b-q], x[o+a:o+b])
				for i := b - q; i < take; i++ {
					d[i] = 0
				}
			}
		}
		dst = dst[take:]
		q = 0
		r++
	}
}

// packConvA packs rows i0..i0+mc, columns p0..p0+kc of im2col(x) in
// panels of mr rows. With a general kernel (kern.gen), which reads A
// through strides, a panel holds its rows as they are, kc floats each,
// zero rows past mc; otherwise each is built in w.rows and transposed
// into packA's layout.
func (w *workspace) packConvA(kern *microKernel, dst []float32, op *convOperand, i0, mc, p0, kc, mr int) {
	cur := newColCursor(&op.s, i0)
	if kern.gen != nil {
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			d := dst[ir*kc : ir*kc+mr*kc]
			for r := range rows {
				cur.seg(op.x, p0, d[r*kc:r*kc+kc])
				cur.next()
			}
			clear(d[rows*kc:])
		}
		return
	}
	w.rows = grow(w.rows, mr*kc)
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		for r := range rows {
			cur.seg(op.x, p0, w.rows[r*kc:r*kc+kc])
			cur.next()
		}
		packRowsStrided(dst[ir*kc:ir*kc+mr*kc], w.rows, kc, 0, rows, 0, kc, mr)
	}
}

// packConvB packs rows p0..p0+kc, columns j0..j0+nc of im2col(x) as packB
// does: a B panel holds nr consecutive columns of each row. Each row's
// segment is built once in w.rows and dealt out to the panels.
func (w *workspace) packConvB(dst []float32, op *convOperand, p0, kc, j0, nc, nr int) {
	if packVector && nr == 32 && op.s.C%32 == 0 && j0%32 == 0 {
		packConvBPanels(dst, op, p0, kc, j0, nc)
		return
	}
	w.rows = grow(w.rows, ceilDiv(nc, nr)*nr)
	row := w.rows
	clear(row[nc:])
	cur := newColCursor(&op.s, p0)
	for p := range kc {
		cur.seg(op.x, j0, row[:nc])
		cur.next()
		if packVector && nr <= 32 {
			copyPanels(dst[p*nr:], row, ceilDiv(nc, nr), nr, kc*nr, nr, nr)
			continue
		}
		if nr == 32 {
			for jr := 0; jr < nc; jr += 32 {
				*(*[32]float32)(dst[jr*kc+p*32:]) = *(*[32]float32)(row[jr:])
			}
			continue
		}
		for jr := 0; jr < nc; jr += nr {
			copy(dst[jr*kc+p*nr:jr*kc+p*nr+nr], row[jr:jr+nr])
		}
	}
}

// packConvBPanels is packConvB for 32-wide panels when C is a multiple of
// 32: every kernel row's run of KW·C columns, and its in-image part,
// starts and ends on a panel boundary, so each run is copied from the
// image straight into its panels (or zeroed), with no row built first.
func packConvBPanels(dst []float32, op *convOperand, p0, kc, j0, nc int) {
	s := &op.s
	c, kwc := s.C, s.KW*s.C
	ld := kc * 32 // floats from one panel to the next
	cur := newColCursor(s, p0)
	for p := range kc {
		ih0 := cur.y*s.StrideH - s.PadH
		iw0 := cur.xo*s.StrideW - s.PadW
		lo, hi := max(0, -iw0)*c, min(s.KW, s.W-iw0)*c // in-image part of a kernel row
		hi = max(hi, lo)
		d := dst[p*32:]
		for col := j0; col < j0+nc; {
			r := col / kwc
			end := min(j0+nc, (r+1)*kwc)
			q0, q1 := col-r*kwc, end-r*kwc // this run's part of kernel row r
			ih := ih0 + r
			if ih < 0 || ih >= s.H {
				zeroPanels(d[(col-j0)/32*ld:], (q1-q0)/32, ld, 32)
				col = end
				continue
			}
			a, b := max(q0, lo), min(q1, hi)
			if a > q0 {
				zeroPanels(d[(col-j0)/32*ld:], (min(a, q1)-q0)/32, ld, 32)
			}
			if a < b {
				src := op.x[((cur.n*s.H+ih)*s.W+iw0)*c+a:]
				copyPanels(d[(r*kwc+a-j0)/32*ld:], src, (b-a)/32, 32, ld, 32, 32)
			}
			if e := max(b, q0, a); e < q1 {
				zeroPanels(d[(r*kwc+e-j0)/32*ld:], (q1-e)/32, ld, 32)
			}
			col = end
		}
		cur.next()
	}
}
