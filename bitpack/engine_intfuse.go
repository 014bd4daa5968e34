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
	s.i32 = grow32(s.i32, rows*c)
	y, acc := s.out, s.i32
	l.integer(s, acc, x, n, rows, func(r0, r1 int) {
		scaleBias(y[r0*c:r1*c], acc[r0*c:r1*c], l.scale, l.bias, r1-r0, c)
		if len(f.pre) == 0 && res == nil {
			return
		}
		for r := r0; r < r1; r++ {
			yr := y[r*c : (r+1)*c]
			applyStages(f.pre, yr, 0)
			if res != nil {
				addRow(yr, res[r*c:(r+1)*c])
				applyStages(post, yr, 0)
			}
		}
	})
	return y, nil
}

// isInteger reports whether l runs on an integer kernel.
func (l *linear) isInteger() bool {
	return l.kernel == KernelInt8 || l.kernel == KernelBitSerial
}
