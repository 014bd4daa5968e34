package bitpack

// fusedInt is an integer layer (KernelInt8 or KernelBitSerial) of the
// fused list whose float epilogue also runs the BatchNorm and activation
// layers after it (pre) and, when it ends a residual body, the residual
// sum and the elementwise layers after the block (post), on each block
// of output rows as the kernel finishes it, while the rows are in cache.
// Each element gets the unfused path's float32 operations in its order:
// float32(scale·float64(acc)) + bias, the stages, + shortcut, the post
// stages.
//
// When the next layer of the list is an int8 layer reading padded input
// codes (codesTo: its only consumer, see markCodes), the epilogue writes
// that layer's input codes of each value straight into its padded code
// buffer, by the operations its own codes pass would run, and no float
// output: the activations between the two layers stay bytes.
type fusedInt struct {
	l       *linear
	pre     []stage
	codesTo *linear
}

func (f *fusedInt) forward(e *exec, x []float32, n int) ([]float32, error) {
	return f.run(e, x, n, nil, nil)
}

// run computes the layer on x; with res != nil it adds res (the
// shortcut, after the body's value) and applies post.
func (f *fusedInt) run(e *exec, x []float32, n int, res []float32, post []stage) ([]float32, error) {
	l := f.l
	s := &e.slots[l.slot]
	rows := n * l.oh * l.ow
	c := l.cout
	s.out = growF(s.out, rows*c)
	y := s.out
	o, fits := oneStepOf(f.pre, post)
	fits = fits && vecLen(c) == c
	cw := f.codesWriter(e, n, res == nil && fits)
	l.integer(s, nil, x, n, rows, func(r0, r1 int, a []int32) {
		if fits && r1 > r0 {
			f.epilogueRows(y[r0*c:r1*c], a, res, r0, r1-r0, &o, cw)
			return
		}
		for r := r0; r < r1; r++ {
			var rr []float32
			if res != nil {
				rr = res[r*c : (r+1)*c]
			}
			f.epilogueRow(y[r*c:(r+1)*c], a[(r-r0)*c:(r-r0+1)*c], rr, post, &o, fits)
		}
	})
	return y, nil
}

// intEpi is the parameter block of intEpiRowAVX (the field order is the
// assembly's).
type intEpi struct {
	scale               *float64
	bias, bnA, bnB, res *float32
	act1, act2          int
	codes               *uint8 // the next layer's input codes (nil: none)
	mul, lo, hi         float32
	off                 int32
}

// codesOut is where an epilogue writes the next layer's padded input
// codes (nil: it writes none).
type codesOut struct {
	to     *linear
	xp     []uint8
	hp, wp int
}

// codesWriter prepares the next layer's padded code buffer (its pad
// border filled, marked ready for its run) when f writes its codes: ok
// (the epilogue runs the assembly rows) and the next layer reads padded
// codes.
func (f *fusedInt) codesWriter(e *exec, n int, ok bool) *codesOut {
	to := f.codesTo
	if to == nil || !ok || !kernels.ew {
		return nil
	}
	hp, wp, padded := to.codeGeom()
	if !padded {
		return nil
	}
	sc := &e.slots[to.slot].isc
	if sc.padded == nil {
		sc.padded = codesPool.Get().(*u8Buf)
	}
	sc.padded.b = growU8(sc.padded.b, n*hp*wp*to.cin)
	to.padBorder(sc.padded.b, n, hp, wp)
	sc.ready = true
	return &codesOut{to: to, xp: sc.padded.b, hp: hp, wp: wp}
}

// epilogueRows runs rows whole rows (starting at output row r0; c a
// multiple of 16) in one intEpiRowAVX call, or with cw one per run of
// pixels in an image row, writing codes instead of floats.
func (f *fusedInt) epilogueRows(y []float32, acc []int32, res []float32, r0, rows int, o *oneStep, cw *codesOut) {
	l, c := f.l, f.l.cout
	p := intEpi{scale: &l.scale[0], act1: o.act1}
	if l.bias != nil {
		p.bias = &l.bias[0]
	}
	if o.bn != nil {
		p.bnA, p.bnB = &o.bn.a[0], &o.bn.b[0]
	}
	if res != nil {
		p.res, p.act2 = &res[r0*c : (r0+rows)*c][0], o.act2
	}
	if cw == nil {
		intEpiRowAVX(&y[0], &acc[0], &p, c, rows, c, 0)
		return
	}
	q := cw.to.q
	p.mul, p.lo, p.hi, p.off = q.Mul, q.Lo, q.Hi, int32(q.Offset())
	pad, plane := cw.to.pad, l.oh*l.ow
	for r := r0; r < r0+rows; {
		b, py, px := r/plane, r%plane/l.ow, r%l.ow
		seg := min(l.ow-px, r0+rows-r)
		p.codes = &cw.xp[((b*cw.hp+py+pad)*cw.wp+px+pad)*c]
		intEpiRowAVX(&y[0], &acc[(r-r0)*c], &p, c, seg, c, 1)
		r += seg
	}
}

// epilogueRow is one output row: y = float32(scale·float64(acc)) (+
// bias), pre, and with the residual row rr: + rr, post. The leading
// multiple of 16 runs in one pass of intEpiRowAVX when the stages fit it
// (o, fits), the rest through scaleBias and the stage loops.
func (f *fusedInt) epilogueRow(y []float32, acc []int32, rr []float32, post []stage, o *oneStep, fits bool) {
	l := f.l
	j := 0
	if fits {
		j = vecLen(len(y))
	}
	if j > 0 {
		p := intEpi{scale: &l.scale[0], act1: o.act1}
		if l.bias != nil {
			p.bias = &l.bias[0]
		}
		if o.bn != nil {
			p.bnA, p.bnB = &o.bn.a[0], &o.bn.b[0]
		}
		if rr != nil {
			p.res, p.act2 = &rr[0], o.act2
		}
		intEpiRowAVX(&y[0], &acc[0], &p, j, 1, 0, 0)
	}
	if j == len(y) {
		return
	}
	var bias []float32
	if l.bias != nil {
		bias = l.bias[j:]
	}
	t := y[j:]
	scaleBias(t, acc[j:], l.scale[j:], bias, 1, len(t))
	stageTail(t, f.pre, rr, post, j)
}

// isInteger reports whether l runs on an integer kernel.
func (l *linear) isInteger() bool {
	return l.kernel == KernelInt8 || l.kernel == KernelBitSerial
}

// markCodes sets codesTo where an integer layer's output goes only to the
// next layer of the list (ls[i+1] reads ls[i]'s output and nothing else
// does) and that layer is a KernelInt8 conv of matching shape.
func markCodes(ls []layer) {
	for i := 0; i+1 < len(ls); i++ {
		a, ok1 := ls[i].(*fusedInt)
		b, ok2 := ls[i+1].(*fusedInt)
		if !ok1 || !ok2 || a.l.dense || b.l.dense || b.l.kernel != KernelInt8 {
			continue
		}
		if a.l.oh == b.l.h && a.l.ow == b.l.w && a.l.cout == b.l.cin && b.l.q.HasCodes() {
			a.codesTo = b.l
		}
	}
}
