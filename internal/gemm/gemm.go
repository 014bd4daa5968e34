package gemm

import (
	"errors"
	"fmt"
	"sync"
)

// ErrShape reports sizes, leading dimensions or slice lengths that do not
// describe a valid problem.
var ErrShape = errors.New("gemm: bad shape")

// Cache blocking (Goto/BLIS). For each kc-slice of K, a kc×nc block of
// op(B) is packed once and kept in L2 (256×512 floats = 512 KiB); each
// packed A micro-panel (kc×mr, 8 KiB for AVX-512) stays in L1 while the kernel
// sweeps every B micro-panel of the block.
const (
	kcBlock = 256
	mcBlock = 168 // a multiple of every kernel's mr
	ncBlock = 512
)

// maxDirectLDA is the largest lda, in floats, at which A is read in place.
const maxDirectLDA = 1024

// minParallelMACs is the problem size below which waking workers costs
// more than it saves.
const minParallelMACs = 1 << 17

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(A) is m×k, op(B) is k×n and C is m×n.
//
// If transA, A is stored k×m and lda >= m; otherwise A is stored m×k and
// lda >= k. If transB, B is stored n×k and ldb >= k; otherwise B is stored
// k×n and ldb >= n. ldc >= n. Each leading dimension must also be at least 1.
// When beta == 0, C's old contents are ignored, so NaNs there do not
// propagate. Bad sizes or short slices give an error wrapping ErrShape.
//
// Sgemm runs on up to Threads() goroutines and is safe for concurrent use
// on disjoint C. Unless transA, each element of C is summed in the same
// order whatever m and the thread count: a row of C depends only on its
// row of op(A) and on op(B), bit for bit.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: Sgemm: negative size m=%d n=%d k=%d: %w", m, n, k, ErrShape)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := checkMatrix("A", a, ar, ac, lda); err != nil {
		return err
	}
	if err := checkMatrix("B", b, br, bc, ldb); err != nil {
		return err
	}
	if err := checkMatrix("C", c, m, n, ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 || alpha == 0 {
		scale(c, m, n, ldc, beta)
		return nil
	}
	if useBLAS.Load() { // builds tagged openblas: see route.go
		blasParallel(Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return nil
	}
	sgemm(active.Load(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// checkMatrix checks that s holds a rows×cols matrix with leading
// dimension ld.
func checkMatrix(name string, s []float32, rows, cols, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("gemm: Sgemm: ld%s=%d < max(1, %d): %w", name, ld, cols, ErrShape)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		return fmt.Errorf("gemm: Sgemm: len(%s)=%d < %d for %d×%d with ld=%d: %w", name, len(s), need, rows, cols, ld, ErrShape)
	}
	return nil
}

// scale sets C = beta*C; beta == 0 writes zeros without reading C.
func scale(c []float32, m, n, ldc int, beta float32) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Splits of one call across goroutines: each part owns a band of rows, a
// band of columns, or (with a reduction at the end) a slice of K.
const (
	splitM = iota
	splitN
	splitK
)

// call is one Sgemm invocation; it is a runner whose parts are bands.
type call struct {
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	split, parts, chunk int
	// bounds, when set, cut an M or N split into parts of decreasing
	// size instead: part i covers bounds[i]..bounds[i+1] (rows or
	// columns). See guided.
	bounds []int
	ws     []*workspace // one per part

	// ca or cb, when its x is set, is an im2col matrix standing in for
	// op(A) (not transposed) or op(B) (not transposed): see convgemm.go.
	ca, cb convOperand

	// pb, if set, holds op(B) already packed (packed.go); whole holds
	// it for the calls that pack a filter once per call (prepack.go).
	pb    *PackedB
	whole PackedB
}

// workspace holds one goroutine's packing buffers and, for K splits, its
// partial C.
type workspace struct {
	a, b, tile, c []float32
	rows          []float32 // packConvA's unpacked rows
}

var (
	callPool = sync.Pool{New: func() any { return new(call) }}
	wsPool   keepPool[*workspace] // packing buffers kept across collections
)

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func sgemm(kern *microKernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := newCall(kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	g.alpha, g.beta = alpha, beta
	g.run(threads)
}

// newCall takes a call from the pool for C = op(A)*op(B) (alpha 1, beta
// 0); run returns it.
func newCall(kern *microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) *call {
	g := callPool.Get().(*call)
	*g = call{
		kern: kern, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: 1, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc,
		ws: g.ws[:0], bounds: g.bounds[:0],
	}
	return g
}

// run computes the call on up to threads goroutines and puts g back in
// the pool.
func (g *call) run(threads int) {
	g.plan(threads)
	for range g.parts {
		w, ok := wsPool.get()
		if !ok {
			w = new(workspace)
		}
		g.ws = append(g.ws, w)
	}
	parallel(g, g.parts, g.parts)
	if g.split == splitK {
		// C += Σ partial sums of parts 1.. (part 0 wrote C directly),
		// in part order for every element, split over bands of rows.
		r := reducePool.Get().(*reduceJob)
		*r = reduceJob{g: g, rows: max(1, minParallelCol/max(1, g.n))}
		t := 1
		if g.m*g.n*(g.parts-1) >= minParallelCol {
			t = g.parts
		}
		parallel(r, ceilDiv(g.m, r.rows), t)
		*r = reduceJob{}
		reducePool.Put(r)
	}
	for i, w := range g.ws {
		wsPool.put(w)
		g.ws[i] = nil
	}
	ws := g.ws[:0]
	*g = call{ws: ws, bounds: g.bounds[:0]}
	callPool.Put(g)
}

// reduceJob adds a K split's partial sums into C, a band of rows per
// part.
type reduceJob struct {
	g    *call
	rows int
}

var reducePool = sync.Pool{New: func() any { return new(reduceJob) }}

func (r *reduceJob) runPart(b int) {
	g := r.g
	for i := b * r.rows; i < min(g.m, (b+1)*r.rows); i++ {
		cr := g.c[i*g.ldc : i*g.ldc+g.n]
		for _, w := range g.ws[1:] {
			for j, v := range w.c[i*g.n : i*g.n+g.n] {
				cr[j] += v
			}
		}
	}
}

// plan picks how to split the call over up to t goroutines with a simple
// cost model in multiply-adds: padded kernel work on the busiest goroutine
// plus the packing every part repeats, or the reduction a K split adds.
// Only a transposed A (the weight-gradient products, where K is the batch)
// may split K: then every element of C sums in one order whatever m and
// the thread count, so a forward pass gives each sample the same bits at
// any batch size and any number of threads.
// An M or N split is then cut into more parts than goroutines while the
// repeated packing stays small: parts are claimed dynamically, so a core
// busy with other work just takes fewer of them.
func (g *call) plan(t int) {
	g.split, g.parts, g.chunk = splitM, 1, g.m
	if t <= 1 || g.m*g.n*g.k < minParallelMACs {
		return
	}
	mr, nr := g.kern.mr, g.kern.nr
	tm, tn := ceilDiv(g.m, mr), ceilDiv(g.n, nr)
	pm, pn := tm*mr, tn*nr

	cm := ceilDiv(tm, t)
	costM := cm*mr*pn*g.k + packCost*(g.k*g.n+cm*mr*g.k)
	cn := ceilDiv(tn, t)
	costN := pm*cn*nr*g.k + packCost*(g.k*g.m+cn*nr*g.k)
	ck := ceilDiv(g.k, t)
	costK := pm*pn*ck + packCost*(ck*(g.m+g.n)+2*g.m*g.n) + g.m*g.n*t

	switch {
	case g.transA && costK < costM && costK < costN:
		g.split, g.chunk, g.parts = splitK, ck, ceilDiv(g.k, ck)
	case costN < costM:
		c := ceilDiv(tn, overSplit(t, tn, g.n))
		g.split, g.chunk, g.parts = splitN, c*nr, ceilDiv(tn, c)
	default:
		c := ceilDiv(tm, overSplit(t, tm, g.m))
		g.split, g.chunk, g.parts = splitM, c*mr, ceilDiv(tm, c)
	}
	if g.pb != nil && g.split != splitK {
		g.guided(t)
	}
}

// guidedMin is how many of guided's smallest parts a split must have room
// for, per goroutine: smaller calls (a deep layer at batch 1 in the
// inference engine) keep their equal parts, which are already small.
const guidedMin = 4

// guided cuts an M or N split of a call whose B is packed once (so a
// part repacks nothing but its own A) into parts of decreasing size:
// each takes half of what is left over the goroutines, down to one
// cache block of rows (mcBlock) or columns (ncBlock). Parts are claimed
// in order, so the goroutines finish within one small part of each
// other: equal parts left one core idle for half a part at the end of
// every call (up to 2 ms of ResNet-18's 40 ms last-stage convs).
// Each row or column of C is computed the same way whatever the cut.
func (g *call) guided(t int) {
	step, size, block := g.kern.mr, g.m, mcBlock/g.kern.mr
	if g.split == splitN {
		step, size, block = g.kern.nr, g.n, ncBlock/g.kern.nr
	}
	tiles := ceilDiv(size, step)
	if tiles < guidedMin*t*block {
		return
	}
	g.bounds = append(g.bounds[:0], 0)
	for done := 0; done < tiles; {
		n := min(tiles-done, max(block, ceilDiv(tiles-done, 2*t)))
		done += n
		g.bounds = append(g.bounds, min(size, done*step))
	}
	g.parts = len(g.bounds) - 1
}

// packCost is the price of packing one float, in kernel multiply-adds.
const packCost = 16

// overSplit returns how many parts to cut a band of tiles (size elements
// along the split dimension) into for t goroutines: each part repacks the
// whole other operand, costing packCost/size of the kernel work per part,
// so keep that under about 10% in total.
func overSplit(t, tiles, size int) int {
	p := t
	for p*2 <= tiles && p*2*packCost*10 <= size && p < 8*t {
		p *= 2
	}
	return min(p, tiles)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (g *call) runPart(i int) {
	w := g.ws[i]
	lo := i * g.chunk
	hi := lo + g.chunk
	if len(g.bounds) > 0 {
		lo, hi = g.bounds[i], g.bounds[i+1]
	}
	switch g.split {
	case splitM:
		w.compute(g, lo, min(g.m, hi), 0, g.n, 0, g.k, g.c, g.ldc, g.beta)
	case splitN:
		w.compute(g, 0, g.m, lo, min(g.n, hi), 0, g.k, g.c, g.ldc, g.beta)
	case splitK:
		hi = min(g.k, hi)
		if i == 0 {
			w.compute(g, 0, g.m, 0, g.n, lo, hi, g.c, g.ldc, g.beta)
			return
		}
		w.c = grow(w.c, g.m*g.n)
		w.compute(g, 0, g.m, 0, g.n, lo, hi, w.c, g.n, 0)
	}
}

// compute sets C[i0:i1, j0:j1] = alpha*op(A)[i0:i1, p0:p1]*op(B)[p0:p1, j0:j1]
// + beta*C[i0:i1, j0:j1], with C indexed as c[i*ldc+j].
func (w *workspace) compute(g *call, i0, i1, j0, j1, p0, p1 int, c []float32, ldc int, beta float32) {
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	mcMax := mcBlock / mr * mr
	ncMax := ncBlock / nr * nr
	kcMax := min(kcBlock, p1-p0)
	w.a = grow(w.a, ceilDiv(min(mcMax, i1-i0), mr)*mr*kcMax)
	if g.pb == nil {
		w.b = grow(w.b, ceilDiv(min(ncMax, j1-j0), nr)*nr*kcMax)
	}
	w.tile = grow(w.tile, mr*nr)
	// An operand panel that feeds only a few tiles is read in place: there
	// is too little reuse to repay packing it. Row-major B must be
	// unit-stride along N; A works either way, but rows of A far apart
	// (ResNet's K = 4608) stream better packed.
	directA := kern.gen != nil && j1-j0 <= 2*nr && g.lda <= maxDirectLDA && g.ca.x == nil
	directB := kern.gen != nil && !g.transB && i1-i0 <= 3*mr && g.cb.x == nil && g.pb == nil
	for jc := j0; jc < j1; jc += ncMax {
		nc := min(ncMax, j1-jc)
		for pc := p0; pc < p1; pc += kcMax {
			kc := min(kcMax, p1-pc)
			bet := beta
			if pc > p0 {
				bet = 1
			}
			switch {
			case g.pb != nil: // packed once: macro reads its panels
			case g.cb.x != nil:
				w.packConvB(w.b, &g.cb, pc, kc, jc, nc, nr)
			case !directB:
				packB(w.b, g.transB, g.b, g.ldb, pc, kc, jc, nc, nr)
			}
			for ic := i0; ic < i1; ic += mcMax {
				mc := min(mcMax, i1-ic)
				switch {
				case g.ca.x != nil:
					w.packConvA(kern, w.a, &g.ca, ic, mc, pc, kc, mr)
				case !directA:
					packA(w.a, g.transA, g.a, g.lda, ic, mc, pc, kc, mr)
				}
				w.macro(g, directA, directB, ic, mc, jc, nc, pc, kc, c[ic*ldc+jc:], ldc, bet)
			}
		}
	}
}

// macro runs the micro-kernel over the mc×nc block of C at c: rows ic..
// of op(A), columns jc.. of op(B), k range pc..pc+kc. Packed panels are
// in w.a and w.b unless directA or directB.
func (w *workspace) macro(g *call, directA, directB bool, ic, mc, jc, nc, pc, kc int, c []float32, ldc int, beta float32) {
	kern, alpha := g.kern, g.alpha
	mr, nr := kern.mr, kern.nr
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		// A operand of gen: packed panel (lda 0, aP mr) unless in place.
		ap, alda, aP := w.a[:0], 0, mr
		switch {
		case g.ca.x != nil && kern.gen != nil: // packConvA's row-major rows
			ap, alda, aP = w.a[ir*kc:ir*kc+mr*kc], kc, 1
		case directA && rows == mr && g.transA:
			ap, aP = g.a[pc*g.lda+ic+ir:], g.lda
		case directA && rows == mr:
			ap, alda, aP = g.a[(ic+ir)*g.lda+pc:], g.lda, 1
		case directA: // the last, partial panel: pack it alone
			packA(w.a, g.transA, g.a, g.lda, ic+ir, rows, pc, kc, mr)
			ap = w.a[:mr*kc]
		default:
			ap = w.a[ir*kc : ir*kc+mr*kc]
		}
		packedA := (!directA || rows < mr) && alda == 0
		gemv := directB && rows == 1 && kern.gemv != nil
		if gemv {
			for jr := 0; jr < nc; jr += gemvCols {
				kern.gemv(kc, ap, aP, g.b[pc*g.ldb+jc+jr:], g.ldb, c[ir*ldc+jr:], alpha, beta, min(gemvCols, nc-jr))
			}
			continue
		}
		for jr := 0; jr < nc; jr += nr {
			cols := min(nr, nc-jr)
			bp, bP := w.b[:0], nr
			switch {
			case g.pb != nil:
				bp = g.pb.packedPanel(pc, kc, jc+jr)[:nr*kc]
			case directB:
				bp, bP = g.b[pc*g.ldb+jc+jr:], g.ldb
			default:
				bp = w.b[jr*kc : jr*kc+nr*kc]
			}
			ct := c[ir*ldc+jr:]
			switch {
			case packedA && !directB && rows == mr && cols == nr:
				kern.fn(kc, ap, bp, ct, ldc, alpha, beta)
			case kern.gen != nil:
				kern.gen(kc, ap, alda, aP, bp, bP, ct, ldc, alpha, beta, rows, cols)
			default:
				w.edgeTile(kern, kc, ap, bp, ct, ldc, alpha, beta, rows, cols)
			}
		}
	}
}

// edgeTile computes a partial tile through the scratch tile w.tile.
func (w *workspace) edgeTile(kern *microKernel, kc int, ap, bp, c []float32, ldc int, alpha, beta float32, rows, cols int) {
	nr := kern.nr
	kern.fn(kc, ap, bp, w.tile, nr, alpha, 0)
	for r := range rows {
		dst := c[r*ldc : r*ldc+cols]
		src := w.tile[r*nr : r*nr+cols]
		if beta == 0 {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}

// blasParallel runs single-threaded OpenBLAS calls on the cores, one block
// of C's rows (or columns, when C is wide and short) each, as our own
// kernels split their work; OpenBLAS's own threads stay at one.
func blasParallel(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const minWork = 1 << 20 // multiply-adds per block worth a goroutine
	parts := min(threads, max(1, m*n*k/minWork))
	if parts < 2 {
		OpenBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	if m >= n {
		step := (m + parts - 1) / parts
		for i0 := 0; i0 < m; i0 += step {
			i1 := min(m, i0+step)
			ao := i0 * lda // A's rows i0.. (A^T: its columns)
			if transA {
				ao = i0
			}
			wg.Go(func() {
				OpenBLAS(transA, transB, i1-i0, n, k, alpha, a[ao:], lda, b, ldb, beta, c[i0*ldc:], ldc)
			})
		}
	} else {
		step := (n + parts - 1) / parts
		for j0 := 0; j0 < n; j0 += step {
			j1 := min(n, j0+step)
			bo := j0 // B's columns j0.. (B^T: its rows)
			if transB {
				bo = j0 * ldb
			}
			wg.Go(func() {
				OpenBLAS(transA, transB, m, j1-j0, k, alpha, a, lda, b[bo:], ldb, beta, c[j0:], ldc)
			})
		}
	}
	wg.Wait()
}
