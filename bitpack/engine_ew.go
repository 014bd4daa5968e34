package bitpack

// Fused float glue of the packed engine.
//
// Between the binary layers of a residual network the float path runs
// BatchNorm, activations, pooling, residual sums and sign packing, each
// its own pass over memory in the unfused layer list. The fused list
// (Model.fuse) merges them into the pass that produces the data:
//
//   - a KernelXNOR layer's output conversion (scale·dot + bias) runs the
//     BatchNorm/activation layers after it ([epilogue.pre]), the residual
//     sum when it ends a residual body, the activations after the sum
//     ([epilogue.post]) and, when the next layer is binary, packs the signs
//     of the result ([packCache]);
//   - BatchNorm/activation layers right before a KernelXNOR layer run on
//     its input as it is packed (fusedXNOR.inStages), never stored;
//   - other runs of them become one [ewLayer], or run on a pool's input
//     as it is read ([poolLayer.pre]).
//
// Every element goes through the same float32 operations in the same
// order as in the unfused list (the shared helpers xnorValue, bnValue,
// hardTanh, relu, a + b for the residual sum, each result rounded to
// float32), so the fused list's logits are bit-identical.

// stage is one elementwise layer applied to rows of c channels.
type stage struct {
	kind uint8     // opBN, opHardTanh, opReLU
	a, b []float32 // BatchNorm: v·a + b per channel
}

// stagesOf returns ls as stages, or nil, false when one is not a
// BatchNorm or activation.
func stagesOf(ls []layer) ([]stage, bool) {
	var st []stage
	for _, l := range ls {
		switch v := l.(type) {
		case *bnLayer:
			st = append(st, stage{kind: opBN, a: v.a, b: v.b})
		case *actLayer:
			k := uint8(opReLU)
			if v.hard {
				k = opHardTanh
			}
			st = append(st, stage{kind: k})
		default:
			return nil, false
		}
	}
	return st, true
}

// ewRun returns the end of the run of BatchNorm and activation layers
// starting at ls[i].
func ewRun(ls []layer, i int) int {
	for ; i < len(ls); i++ {
		switch ls[i].(type) {
		case *bnLayer, *actLayer:
			continue
		}
		break
	}
	return i
}

// applyStages runs st in order over y, the channels [off, off+len(y))
// of one row.
func applyStages(st []stage, y []float32, off int) {
	for i := range st {
		applyStage(&st[i], y, off)
	}
}

func applyStage(st *stage, y []float32, off int) {
	switch st.kind {
	case opBN:
		bnRow(y, st.a[off:off+len(y)], st.b[off:off+len(y)])
	case opHardTanh:
		hardTanhRow(y)
	default:
		reluRow(y)
	}
}

// addRow is the residual sum y = y + r (the body's output first, as
// residualLayer adds).
func addRow(y, r []float32) {
	r = r[:len(y)]
	j := vecLen(len(y))
	if j > 0 {
		addRowAVX(&y[0], &r[0], j)
	}
	for ; j < len(y); j++ {
		y[j] += r[j]
	}
}

// addInt32Row is y = y + r over int32 (a conv's border correction).
func addInt32Row(y, r []int32) {
	r = r[:len(y)]
	j := vecLen(len(y))
	if j > 0 {
		addInt32RowAVX(&y[0], &r[0], j)
	}
	for ; j < len(y); j++ {
		y[j] += r[j]
	}
}

// vecLen returns how many leading values of a row of n the assembly row
// kernels take (a multiple of 16; 0 without them).
func vecLen(n int) int {
	if !kernels.ew {
		return 0
	}
	return n &^ 15
}

func bnRow(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	j := vecLen(len(y))
	if j > 0 {
		bnRowAVX(&y[0], &a[0], &b[0], j)
	}
	for ; j < len(y); j++ {
		y[j] = bnValue(y[j], a[j], b[j])
	}
}

func hardTanhRow(y []float32) {
	j := vecLen(len(y))
	if j > 0 {
		hardTanhRowAVX(&y[0], j)
	}
	for ; j < len(y); j++ {
		y[j] = hardTanh(y[j])
	}
}

func reluRow(y []float32) {
	j := vecLen(len(y))
	if j > 0 {
		reluRowAVX(&y[0], j)
	}
	for ; j < len(y); j++ {
		y[j] = relu(y[j])
	}
}

// maxRow is y = max(y, r) elementwise (the max pool's step).
func maxRow(y, r []float32) {
	r = r[:len(y)]
	j := vecLen(len(y))
	if j > 0 {
		maxRowAVX(&y[0], &r[0], j)
	}
	for ; j < len(y); j++ {
		y[j] = max(y[j], r[j])
	}
}

// packCache remembers which float buffers already have their signs packed:
// a producer that packs its output registers it, and a binary consumer of
// the same buffer and shape takes the packed map instead of packing again.
// Entries live for one pass of the layer list (exec.run clears them).
type packEntry struct {
	x *float32
	n int
	m *Map
}

type packCache struct {
	e    [4]packEntry
	next int
}

func (c *packCache) put(x []float32, m *Map) {
	c.drop(x)
	c.e[c.next] = packEntry{x: &x[0], n: len(x), m: m}
	c.next = (c.next + 1) % len(c.e)
}

// drop forgets the signs of the buffer at x, about to be written over.
func (c *packCache) drop(x []float32) {
	for i := range c.e {
		if c.e[i].x == &x[0] {
			c.e[i] = packEntry{}
		}
	}
}

func (c *packCache) get(x []float32, n, h, w, ch int) *Map {
	if len(x) == 0 {
		return nil
	}
	for _, en := range c.e {
		if m := en.m; en.x == &x[0] && en.n == len(x) && m.N == n && m.H == h && m.W == w && m.C == ch {
			return m
		}
	}
	return nil
}

func (c *packCache) clear() { *c = packCache{} }

// packRows packs the signs of rows of c floats into m's pixels [r0, r1).
func packRows(m *Map, y []float32, c, r0, r1 int) {
	for r := r0; r < r1; r++ {
		packSigns(m.Data[r*m.Words:(r+1)*m.Words], y[r*c:(r+1)*c])
	}
}

// packMap returns the slot's map for the packed signs of a producer's
// output feeding the binary conv to (nil: no packing).
func (s *slot) packMap(to *linear, n int) *Map {
	if to == nil {
		return nil
	}
	return s.pk.reshape(n, to.h, to.w, to.cin)
}

// ewLayer is a run of BatchNorm and activation layers in one pass.
type ewLayer struct {
	slot   int
	c      int // channels per row: a BatchNorm's, else 0 (one flat row per call)
	stages []stage
	packTo *linear // the binary conv reading the output (nil: none)
}

func (l *ewLayer) forward(e *exec, x []float32, n int) ([]float32, error) {
	s := &e.slots[l.slot]
	s.out = growF(s.out, len(x))
	y, c := s.out, l.c
	pm := s.packMap(l.packTo, n)
	if pm != nil {
		c = l.packTo.cin
	}
	if c == 0 {
		c = len(x)
	}
	// Stages that fit bnActRowAVX run in one call per chunk of rows,
	// from x to y.
	o, fits := oneStepOf(l.stages, nil)
	oneCall := fits && vecLen(c) == c && (o.bn == nil || len(o.bn.a) == c)
	var pa, pb *float32
	if oneCall && o.bn != nil {
		pa, pb = &o.bn.a[0], &o.bn.b[0]
	}
	parallelRows(len(x)/c, e.threadsForRows(len(x), len(x)/c), func(r0, r1 int) {
		switch {
		case oneCall && r1 > r0:
			bnActRowAVX(&y[r0*c : r1*c][0], &x[r0*c : r1*c][0], pa, pb, c, o.act1, 0, r1-r0, c, c, 1, 0)
		default:
			for r := r0; r < r1; r++ {
				yr := y[r*c : (r+1)*c]
				copy(yr, x[r*c:(r+1)*c])
				applyStages(l.stages, yr, 0)
			}
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

// ewMinParallel is the fewest values an elementwise pass splits over two
// threads; each further thread needs half as many more (a variable for
// the tests).
var ewMinParallel = 1 << 15

// threadsFor returns the goroutines for an elementwise pass over n values.
func (e *exec) threadsFor(n int) int {
	return max(min(e.threads, 2*n/ewMinParallel), 1)
}

// rowValues is the values each row of a pass counts for in
// threadsForRows: its per-row work (slicing, the stages' loop set-up,
// packing its signs). ResNet-20's first BatchNorm and HardTanh, 1024 rows
// of 16 values, took 31 µs on one core: 2 ns a value.
const rowValues = 16

// threadsForRows is threadsFor for a pass over n values in rows rows.
func (e *exec) threadsForRows(n, rows int) int {
	return e.threadsFor(n + rows*rowValues)
}

// epiRow is the parameter block of epiRowAVX (the field order is the
// assembly's).
type epiRow struct {
	scale, bias, bnA, bnB, res *float32
	act1, act2                 int
	pk                         *uint64 // packed signs of the rows (nil: none)
}

// oneStep describes elementwise stages the one-pass row kernels run: an
// optional BatchNorm, then an optional activation (act codes: 0 none, 1
// HardTanh, 2 ReLU); act2 is the activation after a residual sum.
type oneStep struct {
	bn         *stage
	act1, act2 int
}

func actCode(st *stage) int {
	if st.kind == opHardTanh {
		return 1
	}
	return 2
}

// oneStepOf returns pre (and post, after a residual sum) as a oneStep,
// or false when they do not fit its shape.
func oneStepOf(pre, post []stage) (oneStep, bool) {
	var o oneStep
	i := 0
	if i < len(pre) && pre[i].kind == opBN {
		o.bn = &pre[i]
		i++
	}
	if i < len(pre) && pre[i].kind != opBN {
		o.act1 = actCode(&pre[i])
		i++
	}
	if i != len(pre) || len(post) > 1 || len(post) == 1 && post[0].kind == opBN {
		return o, false
	}
	if len(post) == 1 {
		o.act2 = actCode(&post[0])
	}
	return o, true
}

// stageTail finishes an epilogue row's scalar tail t (the row from
// element off on) after the layer's own output: pre, then with the
// residual row rr + rr[off:] and post, in the unfused path's order. Both
// fused epilogues (fusedXNOR, fusedInt) end this way.
func stageTail(t []float32, pre []stage, rr []float32, post []stage, off int) {
	applyStages(pre, t, off)
	if rr != nil {
		addRow(t, rr[off:])
		applyStages(post, t, off)
	}
}

// epiParams returns the parameter block of f's epilogue with the stages
// o, without the residual.
func (f *fusedXNOR) epiParams(o *oneStep) epiRow {
	l := f.l
	p := epiRow{scale: &l.scale1[0], act1: o.act1}
	if l.bias != nil {
		p.bias = &l.bias[0]
	}
	if o.bn != nil {
		p.bnA, p.bnB = &o.bn.a[0], &o.bn.b[0]
	}
	return p
}

// epilogueRows is rows [r0, r1) of a float-output fusedXNOR whose stages
// fit epiRowAVX (o) and whose rows are whole multiples of 16 values, in
// one pass: y = scale·dot (+ bias), pre, with the residual res: + res,
// post, for the dots acc of those rows; and when pm is not nil the signs
// of y packed into pm's rows, in the same pass when the rows are whole
// words.
func (f *fusedXNOR) epilogueRows(y []float32, acc []int32, res []float32, r0, r1 int, o *oneStep, pm *Map) {
	c := f.l.cout
	if r0 >= r1 {
		return
	}
	p := f.epiParams(o)
	if res != nil {
		p.res, p.act2 = &res[r0*c : r1*c][0], o.act2
	}
	inPass := pm != nil && c%64 == 0
	if inPass {
		p.pk = &pm.Data[r0*pm.Words : r1*pm.Words][0]
	}
	epiRowAVX(&y[r0*c : r1*c][0], &acc[:(r1-r0)*c][0], &p, c, r1-r0, c)
	if pm != nil && !inPass {
		packRows(pm, y, c, r0, r1)
	}
}

// epilogueRow is one output row of a float-output fusedXNOR: y =
// scale·dot (+ bias), pre, and with the residual row rr: + rr, post. The
// leading multiple of 16 runs in one pass of epiRowAVX when the stages
// fit it (o, fits), the rest through the stage loops.
func (f *fusedXNOR) epilogueRow(y []float32, acc []int32, rr []float32, post []stage, o *oneStep, fits bool) {
	l := f.l
	j := 0
	if fits {
		j = vecLen(len(y))
	}
	if j > 0 {
		p := f.epiParams(o)
		if rr != nil {
			p.res, p.act2 = &rr[0], o.act2
		}
		epiRowAVX(&y[0], &acc[0], &p, j, 1, 0)
	}
	if j == len(y) {
		return
	}
	var bias []float32
	if l.bias != nil {
		bias = l.bias[j:]
	}
	t := y[j:]
	xnorOutRow(t, acc[j:], l.scale1[j:], bias)
	stageTail(t, f.pre, rr, post, j)
}
