package bitpack

// fusedInt is an integer layer (KernelInt8 or KernelBitSerial) of the
// fused list whose float epilogue also runs the BatchNorm and activation
// layers after it (pre) and, when it ends a residual body, the residual
// sum and the elementwise layers after the block (post), on each block
// of output rows as the kernel finishes it, while the rows are in cache.
// Each element gets the unfused path's float32 operations in its order:
// float32(scale·float64(acc)) + bias, the stages, + shortcut, the post
// stages.
type fusedInt struct {
	l   *linear
	pre []stage
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
	l.integer(s, nil, x, n, rows, func(r0, r1 int, a []int32) {
		if fits && vecLen(c) == c && r1 > r0 {
			f.epilogueRows(y[r0*c:r1*c], a, res, r0, r1-r0, &o)
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
}

// epilogueRows runs rows whole rows (starting at output row r0; c a
// multiple of 16) in one intEpiRowAVX call.
func (f *fusedInt) epilogueRows(y []float32, acc []int32, res []float32, r0, rows int, o *oneStep) {
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
	intEpiRowAVX(&y[0], &acc[0], &p, c, rows, c)
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
		intEpiRowAVX(&y[0], &acc[0], &p, j, 1, 0)
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
	applyStages(f.pre, t, j)
	if rr != nil {
		addRow(t, rr[j:])
		applyStages(post, t, j)
	}
}

// isInteger reports whether l runs on an integer kernel.
func (l *linear) isInteger() bool {
	return l.kernel == KernelInt8 || l.kernel == KernelBitSerial
}
