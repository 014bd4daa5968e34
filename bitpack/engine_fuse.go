package bitpack

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Fused BatchNorm+sign between consecutive binary layers.
//
// A chain is a KernelXNOR conv or dense layer (the producer), then only
// BatchNorm, ReLU and HardTanh layers, at most one max pool and at most
// one Flatten (last), then a KernelXNOR layer (the consumer), all in one
// layer list. The consumer packs only the signs of its input (+1 for
// v >= 0, −0 included), so per output channel o the float path computes
//
//	y(d)   = scale1[o]·float32(d) (+ bias[o])   for the integer dot d
//	u(d)   = pre(y(d))                          the elementwise layers before the pool
//	sign   = sign(post(max over the window of u(d_i)))
//
// (without a pool, u = pre(y) and post is empty). Every step is a
// monotone float32 function, so h(d) = sign(post(u(d))) is a step
// function of d: one integer threshold and a flip flag ([Thresholds]).
// fold finds them by evaluating exactly the engine's float32 operations
// (the shared helpers xnorValue, bnValue, hardTanh, relu, with every
// layer's output rounded to float32 as its store to memory does) at
// every integer d in [−K, K], K = kh·kw·cin, which covers the border
// pixels of zero padding too (about two evaluations per weight, at build
// time). It checks on the way that h changes at most once and u is
// monotone, and refuses the chain otherwise or on a NaN.
//
// Max pooling commutes with the monotone steps: with u nondecreasing the
// float max is u(max d_i), else u(min d_i), so the pooled sign is h at
// that dot — the max of the signs (bitwise AND, bit 1 = −1) when h and u
// run the same way, the min (bitwise OR) when they run opposite ways
// (a BatchNorm with negative scale after the pool). The engine's pools
// have no padding, like [MaxPool] with pad = 0.

// signLink is one fused producer→consumer link.
type signLink struct {
	l, next *linear
	thr     *Thresholds
	pool    *poolLayer // nil: no pooling
	orMask  []uint64   // pooled channels combined by OR (nil: all AND)
	repack  bool       // the consumer is dense and the map's words are not its packed input
	popThr  []int64    // thr.popThresholds(l.k), computed once
	flip    []uint32
}

// fusedXNOR is a KernelXNOR layer of the fused path. Its input is packed
// here from floats (after inStages, the elementwise layers before it),
// taken from a producer that packed it already (exec.packs), or already
// in its slot's input map (written by the previous link). Its output is
// either the packed input of the next binary layer (link) or floats
// through the epilogue: pre (the elementwise layers after it), in a
// residual body's last layer the sum and the layers after the residual,
// and the sign packing for packTo.
type fusedXNOR struct {
	l        *linear
	packedIn bool
	inStages []stage
	link     *signLink // nil: float output
	pre      []stage
	packTo   *linear
}

func (f *fusedXNOR) forward(e *exec, x []float32, n int) ([]float32, error) {
	return f.run(e, x, n, nil, nil, f.packTo, false)
}

// run is forward with the residual sum res (nil: none) and the stages
// post after it, packing the result's signs for packTo. With inPlace the
// sum may be written over res (when the epilogue runs whole rows in the
// assembly pass, which reads each value of res before it stores there).
func (f *fusedXNOR) run(e *exec, x []float32, n int, res []float32, post []stage, packTo *linear, inPlace bool) ([]float32, error) {
	l := f.l
	s := &e.slots[l.slot]
	var bm *Map
	switch {
	case f.packedIn:
		bm = s.bmap
	case f.inStages != nil:
		bm = f.packStaged(e, s, x, n)
	default:
		if bm = e.packs.get(x, n, l.h, l.w, l.cin); bm == nil {
			bm = l.packInput(s, x, n)
		}
	}
	if f.link != nil {
		if err := f.link.forward(e, s, bm, n); err != nil {
			return nil, fmt.Errorf("bitpack: %s: %w", l.name, err)
		}
		return nil, nil // the consumer reads its input map
	}
	rows := n * l.oh * l.ow
	s.i32 = grow32(s.i32, rows*l.cout)
	c := l.cout
	pm := s.packMap(packTo, n)
	o, fits := oneStepOf(f.pre, post)
	rowsAVX := fits && vecLen(c) == c
	var y []float32
	if inPlace && rowsAVX && res != nil {
		y = res[:rows*c]
		e.packs.drop(y)
	} else {
		s.out = growF(s.out, rows*c)
		y = s.out
	}
	err := s.conv.forwardThen(s.i32, bm, func(r0, r1 int, acc []int32) {
		if rowsAVX {
			f.epilogueRows(y, acc, res, r0, r1, &o, pm)
			return
		}
		for r := r0; r < r1; r++ {
			var rr []float32
			if res != nil {
				rr = res[r*c : (r+1)*c]
			}
			f.epilogueRow(y[r*c:(r+1)*c], acc[(r-r0)*c:(r-r0+1)*c], rr, post, &o, fits)
		}
		if pm != nil {
			packRows(pm, y, c, r0, r1)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	if pm != nil {
		e.packs.put(y, pm)
	}
	return y, nil
}

// xnorOutRow is one output pixel of linear.xnor: y = scale·dot (+ bias).
func xnorOutRow(y []float32, acc []int32, scale, bias []float32) {
	acc, scale = acc[:len(y)], scale[:len(y)]
	j := vecLen(len(y))
	if j > 0 {
		var b *float32
		if bias != nil {
			b = &bias[0]
		}
		xnorOutRowAVX(&y[0], &acc[0], &scale[0], b, j)
	}
	if bias == nil {
		for ; j < len(y); j++ {
			y[j] = xnorValue(scale[j], acc[j])
		}
		return
	}
	bias = bias[:len(y)]
	for ; j < len(y); j++ {
		v := xnorValue(scale[j], acc[j])
		y[j] = v + bias[j]
	}
}

// packStaged packs the signs of inStages(x) into the slot's input map,
// 64 channels at a time through a stack buffer.
func (f *fusedXNOR) packStaged(e *exec, s *slot, x []float32, n int) *Map {
	l := f.l
	bm := s.inMap(n, l.h, l.w, l.cin)
	c, wc := l.cin, bm.Words
	parallelRows(n*l.h*l.w, e.threadsForRows(len(x), n*l.h*l.w), func(p0, p1 int) {
		var buf [64 + 16]float32
		tmp := lineAligned(buf[:])[:64]
		for p := p0; p < p1; p++ {
			for w := 0; w < wc; w++ {
				t := tmp[:copy(tmp, x[p*c+w*64:(p+1)*c])]
				applyStages(f.inStages, t, w*64)
				packSigns(bm.Data[p*wc+w:p*wc+w+1], t)
			}
		}
	})
	return bm
}

// lineAligned returns b from its first element on a 64-byte boundary
// (b must have 15 floats to spare). A stack buffer's alignment moves with
// the frames above it, and the row kernels' 64-byte loads from a buffer
// across cache lines (just written by copy) ran packStaged 1.8× slower.
func lineAligned(b []float32) []float32 {
	off := int(uintptr(unsafe.Pointer(&b[0])) % 64 / 4)
	return b[(16-off)%16:]
}

// fusedResidual is a residual block of the fused path: the shortcut runs
// first, then the body, whose last layer adds the shortcut and applies
// post (the elementwise layers after the block) in its epilogue when it
// is a fusedXNOR with float output, else one pass here does.
type fusedResidual struct {
	slot           int
	body, shortcut []layer
	post           []stage
	c              int     // output channels per row
	packTo         *linear // the binary conv reading the output (nil: none)
	// sumInPlace: the block's input and its shortcut's output are the
	// engine's own buffers, read by nothing after the block (a block of
	// the top-level list, not first, and its input not the caller's), so
	// the sum may be written over the shortcut's values: the residual
	// stream then stays in one buffer, in cache, rather than moving to a
	// new one each block.
	sumInPlace bool
}

func (l *fusedResidual) forward(e *exec, x []float32, n int) ([]float32, error) {
	b := x
	var err error
	if l.shortcut != nil {
		if b, err = runLayers(e, l.shortcut, x, n); err != nil {
			return nil, err
		}
	}
	last := len(l.body) - 1
	if f, ok := l.body[last].(*fusedXNOR); ok && f.link == nil {
		in, err := runLayers(e, l.body[:last], x, n)
		if err != nil {
			return nil, err
		}
		inPlace := l.sumInPlace && !overlaps(b, e.input)
		return f.run(e, in, n, b, l.post, l.packTo, inPlace)
	}
	if f, ok := l.body[last].(*fusedInt); ok && l.packTo == nil {
		in, err := runLayers(e, l.body[:last], x, n)
		if err != nil {
			return nil, err
		}
		return f.run(e, in, n, b, l.post)
	}
	a, err := runLayers(e, l.body, x, n)
	if err != nil {
		return nil, err
	}
	s := &e.slots[l.slot]
	s.out = growF(s.out, len(a))
	y, c := s.out, l.c
	pm := s.packMap(l.packTo, n)
	parallelRows(len(a)/c, e.threadsForRows(len(a), len(a)/c), func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			yr := y[r*c : (r+1)*c]
			copy(yr, a[r*c:(r+1)*c])
			addRow(yr, b[r*c:(r+1)*c])
			applyStages(l.post, yr, 0)
		}
		if pm != nil {
			packRows(pm, y, c, r0, r1)
		}
	})
	if pm != nil {
		e.packs.put(y, pm)
	}
	return y, nil
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0]))
	return a0 < b0+uintptr(4*len(b)) && b0 < a0+uintptr(4*len(a))
}

// forward writes the packed signs of the chain into the consumer's input
// map: thresholded conv, packed max pool, flatten repack, each straight
// into the consumer's map where the layouts allow.
func (k *signLink) forward(e *exec, s *slot, in *Map, n int) error {
	l, next := k.l, k.next
	dst := e.slots[next.slot].inMap(n, next.h, next.w, next.cin)
	direct := func(h, w, c int) *Map { // a view of dst shaped n×h×w×c
		v := &s.view
		v.N, v.H, v.W, v.C, v.Words = n, h, w, c, wordsFor(c)
		v.Data = dst.Data[:n*h*w*v.Words]
		return v
	}
	var sig *Map
	if k.pool == nil && !k.repack {
		sig = direct(l.oh, l.ow, l.cout)
	} else {
		sig = s.sig.reshape(n, l.oh, l.ow, l.cout)
	}
	if err := s.conv.forwardSign(sig, in, k.thr, k.popThr, k.flip); err != nil {
		return err
	}
	cur := sig
	if p := k.pool; p != nil {
		if k.repack {
			cur = s.pooled.reshape(n, p.oh, p.ow, p.c)
		} else {
			cur = direct(p.oh, p.ow, p.c)
		}
		var err error
		if k.orMask == nil {
			err = MaxPool(cur, sig, p.kh, p.kw, p.st, 0)
		} else {
			err = poolSigns(cur, sig, p.kh, p.kw, p.st, k.orMask)
		}
		if err != nil {
			return err
		}
	}
	if k.repack {
		repackFlat(dst, cur)
	}
	return nil
}

// fuse returns the fused layer list of ls (residual bodies and shortcuts
// fused inside their own lists), counting the links in m.chains; c is
// the channels per row of ls's input.
func (m *Model) fuse(ls []layer) []layer {
	links := make([]*signLink, len(ls))
	end := make([]int, len(ls)) // index of the consumer of links[i]
	consumer := make([]bool, len(ls))
	for i := range ls {
		if k, j := chainAt(ls, i); k != nil {
			links[i], end[i], consumer[j] = k, j, true
			m.chains++
		}
	}
	var out []layer
	var inStages []stage // elementwise layers folded into the next xnor layer's packing
	for i := 0; i < len(ls); i++ {
		switch v := ls[i].(type) {
		case *linear:
			if v.isInteger() { // engine_intfuse.go
				j := ewRun(ls, i+1)
				f := &fusedInt{l: v}
				f.pre, _ = stagesOf(ls[i+1 : j])
				i = j - 1
				out = append(out, f)
				continue
			}
			if st, j := stemAt(ls, i); st != nil { // engine_stem.go
				out = append(out, st)
				i = j
				continue
			}
			if v.kernel != KernelXNOR {
				out = append(out, v)
				continue
			}
			f := &fusedXNOR{l: v, packedIn: consumer[i], link: links[i], inStages: inStages}
			inStages = nil
			if links[i] != nil {
				i = end[i] - 1 // skip the folded layers
			} else {
				j := ewRun(ls, i+1)
				f.pre, _ = stagesOf(ls[i+1 : j])
				i = j - 1
			}
			out = append(out, f)
		case *bnLayer, *actLayer:
			j := ewRun(ls, i)
			st, _ := stagesOf(ls[i:j])
			i = j - 1
			if nx, ok := at(ls, j).(*linear); ok && nx.kernel == KernelXNOR && !consumer[j] {
				inStages = signStages(st)
				continue
			}
			if p, ok := at(ls, j).(*poolLayer); ok {
				np := *p
				np.pre, i = st, j
				out = append(out, &np)
				continue
			}
			out = append(out, &ewLayer{slot: slotOf(ls[i]), c: stagesC(st), stages: st})
		case *poolLayer:
			np := *v
			out = append(out, &np)
		case *residualLayer:
			j := ewRun(ls, i+1)
			r := &fusedResidual{slot: v.slot, body: m.fuse(v.body), shortcut: m.fuse(v.shortcut), c: v.c}
			r.post, _ = stagesOf(ls[i+1 : j])
			i = j - 1
			out = append(out, r)
		default:
			out = append(out, v)
		}
	}
	markPacks(out)
	markCodes(out) // engine_intfuse.go
	return out
}

// signStages returns the stages st before a sign packing less the
// trailing HardTanhs, which change no sign (nil: none left): the packing
// sets a bit for v < 0, and min(max(v, −1), 1) < 0 exactly when v < 0,
// for ±0, ±Inf and NaN too (NaN stays NaN, and packs as +1 either way).
// Without stages the producer of the input packs its signs in its own
// pass (markPacks).
func signStages(st []stage) []stage {
	for len(st) > 0 && st[len(st)-1].kind == opHardTanh {
		st = st[:len(st)-1]
	}
	if len(st) == 0 {
		return nil
	}
	return st
}

// slotOf returns the scratch slot of an elementwise layer.
func slotOf(l layer) int {
	if b, ok := l.(*bnLayer); ok {
		return b.slot
	}
	return l.(*actLayer).slot
}

// at returns ls[i], or nil past the end.
func at(ls []layer, i int) layer {
	if i < len(ls) {
		return ls[i]
	}
	return nil
}

// stagesC returns the channels of the first BatchNorm in st, or 0.
func stagesC(st []stage) int {
	for _, s := range st {
		if s.kind == opBN {
			return len(s.a)
		}
	}
	return 0
}

// markPacks sets, for every float producer in ls whose next layer is a
// binary conv packing its input, the conv whose packed input the producer
// writes in the same pass.
func markPacks(ls []layer) {
	for i := 0; i+1 < len(ls); i++ {
		to := packTarget(ls[i+1])
		if to == nil {
			continue
		}
		switch v := ls[i].(type) {
		case *fusedXNOR:
			if v.link == nil {
				v.packTo = to
			}
		case *fusedResidual:
			v.packTo = to
		case *ewLayer:
			v.packTo = to
		case *poolLayer:
			v.packTo = to
		case *fusedStem:
			v.pool.packTo = to
		}
	}
}

// packTarget returns the binary conv that packs the signs of l's input
// as they are (nil: none).
func packTarget(l layer) *linear {
	switch v := l.(type) {
	case *fusedXNOR:
		if !v.packedIn && v.inStages == nil && !v.l.dense {
			return v.l
		}
	case *fusedResidual:
		if t := packTarget(v.body[0]); t != nil {
			return t
		}
		if v.shortcut != nil {
			return packTarget(v.shortcut[0])
		}
	}
	return nil
}

// chainAt returns the link that starts at ls[i] and the index of its
// consumer, or nil when ls[i] starts no fusable chain.
func chainAt(ls []layer, i int) (*signLink, int) {
	l, ok := ls[i].(*linear)
	if !ok || l.kernel != KernelXNOR {
		return nil, 0
	}
	var pre, post []layer // elementwise layers before and after the pool
	var pool *poolLayer
	flat := false
	j := i + 1
	for ; j < len(ls); j++ {
		if flat {
			break // only the consumer may follow the flatten
		}
		switch v := ls[j].(type) {
		case *bnLayer, *actLayer:
			if pool == nil {
				pre = append(pre, v)
			} else {
				post = append(post, v)
			}
			continue
		case *poolLayer:
			if !v.max || pool != nil {
				return nil, 0
			}
			pool = v
			continue
		case flattenLayer:
			flat = true
			continue
		}
		break
	}
	if j == len(ls) {
		return nil, 0
	}
	next, ok := ls[j].(*linear)
	if !ok || next.kernel != KernelXNOR {
		return nil, 0
	}
	k := &signLink{l: l, next: next, pool: pool}
	// The packed words the link produces must be the consumer's input.
	h, w, c := l.oh, l.ow, l.cout
	if pool != nil {
		h, w = pool.oh, pool.ow
	}
	switch {
	case !next.dense:
		if l.dense || flat || next.h != h || next.w != w || next.cin != c {
			return nil, 0
		}
	case next.cin != h*w*c:
		return nil, 0
	case h*w > 1 && c%64 != 0:
		k.repack = true // pixels of ceil(c/64) words → one row of h·w·c bits
	}
	var ok2 bool
	if k.thr, k.orMask, ok2 = fold(l, pre, post, pool != nil); !ok2 {
		return nil, 0
	}
	k.popThr, k.flip = k.thr.popThresholds(l.k)
	return k, j
}

// scalarOp is one elementwise layer of a chain for one channel.
type scalarOp struct {
	kind uint8 // opBN, opHardTanh, opReLU
	a, b float32
}

const (
	opBN = iota
	opHardTanh
	opReLU
)

// channelOps returns the elementwise layers ls for channel o.
func channelOps(ls []layer, o int) []scalarOp {
	ops := make([]scalarOp, len(ls))
	for i, l := range ls {
		switch l := l.(type) {
		case *bnLayer:
			ops[i] = scalarOp{kind: opBN, a: l.a[o], b: l.b[o]}
		case *actLayer:
			ops[i].kind = opReLU
			if l.hard {
				ops[i].kind = opHardTanh
			}
		}
	}
	return ops
}

// chainValue applies ops to v, each output rounded to float32 as the
// layer's store to memory does.
func chainValue(ops []scalarOp, v float32) float32 {
	for _, op := range ops {
		switch op.kind {
		case opBN:
			v = float32(bnValue(v, op.a, op.b))
		case opHardTanh:
			v = float32(hardTanh(v))
		default:
			v = float32(relu(v))
		}
	}
	return v
}

// fold computes the per-channel thresholds of the chain l → pre → (pool)
// → post → sign (see the comment at the top of the file) and, when
// pooled, the channels whose packed pool is an OR. ok is false when a
// channel's folded function is not a monotone step or meets a NaN. The
// channels are scanned in parallel.
func fold(l *linear, pre, post []layer, pooled bool) (t *Thresholds, orMask []uint64, ok bool) {
	if l.k > math.MaxInt32/2 {
		return nil, nil, false
	}
	t = &Thresholds{Thr: make([]int32, l.cout), Flip: make([]bool, l.cout)}
	or := make([]bool, l.cout)
	bad := make([]bool, l.cout)
	threads := min(runtime.GOMAXPROCS(0), l.cout, 1+(2*l.k+1)*l.cout>>20)
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		o0, o1 := i*l.cout/threads, (i+1)*l.cout/threads
		wg.Go(func() {
			for o := o0; o < o1; o++ {
				t.Thr[o], t.Flip[o], or[o], bad[o] = foldChannel(l, o, channelOps(pre, o), channelOps(post, o))
			}
		})
	}
	wg.Wait()
	for o := 0; o < l.cout; o++ {
		if bad[o] {
			return nil, nil, false
		}
		if pooled && or[o] {
			if orMask == nil {
				orMask = make([]uint64, wordsFor(l.cout))
			}
			orMask[o/64] |= 1 << uint(o%64)
		}
	}
	return t, orMask, true
}

// foldChannel scans channel o of the chain over every dot in [−K, K]:
// sign = +1 ⇔ (dot >= thr) ≠ flip; or says that a max pool between pre
// and post combines the channel's signs by OR; bad that the channel does
// not fold.
func foldChannel(l *linear, o int, pre, post []scalarOp) (thr int32, flip, or, bad bool) {
	k := int32(l.k)
	scale, bias, hasBias := l.scale1[o], float32(0), l.bias != nil
	if hasBias {
		bias = l.bias[o]
	}
	var (
		prevU          float32
		first, prev    bool // sign >= 0 at d = −K, at d − 1
		up, down       bool // u rose / fell somewhere
		changes        int
		at             = int32(math.MinInt32) // the dot where the sign changes
		nonneg, noNaNs = false, true
	)
	for d := -k; d <= k; d++ {
		y := float32(xnorValue(scale, d))
		if hasBias {
			y = float32(y + bias) // addBias
		}
		u := chainValue(pre, y)
		v := chainValue(post, u)
		noNaNs = noNaNs && y == y && u == u && v == v
		nonneg = !(v < 0)
		if d == -k {
			first, prev, prevU = nonneg, nonneg, u
			continue
		}
		if nonneg != prev {
			changes++
			at = d
		}
		up = up || u > prevU
		down = down || u < prevU
		prev, prevU = nonneg, u
	}
	if !noNaNs || changes > 1 || up && down {
		return 0, false, false, true
	}
	switch {
	case changes == 0:
		thr, flip = math.MinInt32, !first
	case first: // +1 below at, −1 from at on
		thr, flip = at, true
	default: // −1 below at, +1 from at on
		thr = at
	}
	// h rises (−1 → +1) when it starts at −1; with a change, u is not
	// constant, so down says its direction. Opposite directions: OR.
	or = changes > 0 && !first == down
	return thr, flip, or, false
}

// poolSigns is [MaxPool] without padding where the channels set in
// orMask combine by OR (the min of the signs) instead of AND.
func poolSigns(out, in *Map, kh, kw, stride int, orMask []uint64) error {
	oh, ow := (in.H-kh)/stride+1, (in.W-kw)/stride+1
	if kh < 1 || kw < 1 || stride < 1 || oh < 1 || ow < 1 || len(orMask) != in.Words ||
		out.N != in.N || out.H != oh || out.W != ow || out.C != in.C || out.Words != in.Words ||
		len(in.Data) < in.N*in.H*in.W*in.Words || len(out.Data) < out.N*oh*ow*out.Words {
		return shapeErr("poolSigns: %d×%d window, stride %d from %d×%d×%d×%d to %d×%d×%d×%d",
			kh, kw, stride, in.N, in.H, in.W, in.C, out.N, out.H, out.W, out.C)
	}
	wc := in.Words
	for n := 0; n < in.N; n++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				dst := out.Data[((n*oh+y)*ow+x)*wc:][:wc]
				for i := range dst {
					and, or := ^uint64(0), uint64(0)
					for ky := 0; ky < kh; ky++ {
						row := ((n*in.H+y*stride+ky)*in.W + x*stride) * wc
						for kx := 0; kx < kw; kx++ {
							v := in.Data[row+kx*wc+i]
							and &= v
							or |= v
						}
					}
					dst[i] = and&^orMask[i] | or&orMask[i]
				}
			}
		}
	}
	return nil
}

// repackFlat copies the packed map src (N×H×W×C, ceil(C/64) words per
// pixel) into dst as N rows of H·W·C bits (dst.Words words each), the
// packed input of a dense layer after a flatten. The padding bits of src
// are zero, and so are dst's.
func repackFlat(dst, src *Map) {
	c, wc, pix := src.C, src.Words, src.H*src.W
	for b := 0; b < src.N; b++ {
		row := dst.Data[b*dst.Words : (b+1)*dst.Words]
		clear(row)
		for p := 0; p < pix; p++ {
			for j, v := range src.Data[(b*pix+p)*wc:][:wc] {
				pos := p*c + j*64
				sh := uint(pos % 64)
				row[pos/64] |= v << sh
				if sh != 0 && v>>(64-sh) != 0 {
					row[pos/64+1] |= v >> (64 - sh)
				}
			}
		}
	}
}
