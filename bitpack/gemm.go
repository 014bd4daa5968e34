package bitpack

import "math/bits"

// GEMM computes out[m*w.N+n] = Σ_k a[m][k]·w[n][k] over ±1 values
// (= K − 2·popcount(a_m XOR w_n)) on one thread.
func GEMM(out []int32, a *Matrix, w *Panels) error {
	return GEMMThreads(out, a, w, 1)
}

// GEMMThreads is GEMM split over up to threads goroutines by rows of a.
func GEMMThreads(out []int32, a *Matrix, w *Panels, threads int) error {
	if err := checkGEMM(len(out), a, w); err != nil {
		return err
	}
	if threads <= 1 {
		xnorGEMM(out, w.N, a, w, 0, a.Rows)
		return nil
	}
	parallelRows(a.Rows, threads, func(r0, r1 int) { xnorGEMM(out, w.N, a, w, r0, r1) })
	return nil
}

func checkGEMM(nout int, a *Matrix, w *Panels) error {
	switch {
	case a == nil || w == nil:
		return shapeErr("GEMM: nil operand")
	case a.K != w.K || a.Words != w.Words:
		return shapeErr("GEMM: a has K=%d (%d words), w has K=%d (%d words)", a.K, a.Words, w.K, w.Words)
	case a.Words < 1 || len(a.Data) < a.Rows*a.Words:
		return shapeErr("GEMM: a.Data has %d words, want %d", len(a.Data), a.Rows*a.Words)
	case len(w.Data) < panelsFor(w.N)*w.Words*PanelWidth:
		return shapeErr("GEMM: w.Data has %d words, want %d", len(w.Data), panelsFor(w.N)*w.Words*PanelWidth)
	case nout < a.Rows*w.N:
		return shapeErr("GEMM: len(out)=%d, want %d×%d", nout, a.Rows, w.N)
	}
	return nil
}

// rowPtrs returns pointers to the 4 rows of a micro-tile starting at row r;
// rows past the end repeat row r (their results are discarded).
func rowPtrs(data []uint64, stride, r, mr int) (p [4]*uint64) {
	for i := range p {
		if i < mr {
			p[i] = &data[(r+i)*stride]
		} else {
			p[i] = &data[r*stride]
		}
	}
	return p
}

// xnorGEMM computes rows [r0,r1) of out (row stride ldo).
func xnorGEMM(out []int32, ldo int, a *Matrix, w *Panels, r0, r1 int) {
	if !kernels.popcnt && w.rows != nil {
		xnorRowsGo(out, ldo, a, w, r0, r1)
		return
	}
	var tmp [4 * PanelWidth]int32
	pwLen := w.Words * PanelWidth
	for p := 0; p < panelsFor(w.N); p++ {
		pw := w.Data[p*pwLen : (p+1)*pwLen]
		nr := min(PanelWidth, w.N-p*PanelWidth)
		c0 := p * PanelWidth
		for r := r0; r < r1; r += 4 {
			mr := min(4, r1-r)
			if !kernels.popcnt {
				xnorTileGo(out[r*ldo+c0:], ldo, a.Data[r*a.Words:], a.Words, mr, pw, w.Words, nr, a.K)
				continue
			}
			rp := rowPtrs(a.Data, a.Words, r, mr)
			if mr == 4 && nr == PanelWidth {
				xnor4x32(rp[0], rp[1], rp[2], rp[3], &pw[0], a.Words, &out[r*ldo+c0], ldo, a.K)
				continue
			}
			xnor4x32(rp[0], rp[1], rp[2], rp[3], &pw[0], a.Words, &tmp[0], PanelWidth, a.K)
			for i := 0; i < mr; i++ {
				copy(out[(r+i)*ldo+c0:(r+i)*ldo+c0+nr], tmp[i*PanelWidth:])
			}
		}
	}
}

// xnorTileGo is the portable micro-kernel: an mr×nr tile (mr <= 4,
// nr <= PanelWidth) in 2×4 register blocks.
func xnorTileGo(out []int32, ldo int, a []uint64, lda, mr int, pw []uint64, words, nr, k int) {
	for i := 0; i < mr; i += 2 {
		a0 := a[i*lda:][:words]
		a1 := a0
		if i+1 < mr {
			a1 = a[(i+1)*lda:][:words]
		}
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 int
			for kk, x0 := range a0 {
				x1 := a1[kk]
				w := pw[kk*PanelWidth+j:][:4]
				c00 += bits.OnesCount64(x0 ^ w[0])
				c01 += bits.OnesCount64(x0 ^ w[1])
				c02 += bits.OnesCount64(x0 ^ w[2])
				c03 += bits.OnesCount64(x0 ^ w[3])
				c10 += bits.OnesCount64(x1 ^ w[0])
				c11 += bits.OnesCount64(x1 ^ w[1])
				c12 += bits.OnesCount64(x1 ^ w[2])
				c13 += bits.OnesCount64(x1 ^ w[3])
			}
			c := [2][4]int{{c00, c01, c02, c03}, {c10, c11, c12, c13}}
			for ii := 0; ii < 2 && i+ii < mr; ii++ {
				o := out[(i+ii)*ldo:]
				for jj := 0; jj < 4 && j+jj < nr; jj++ {
					o[j+jj] = int32(k - 2*c[ii][jj])
				}
			}
		}
	}
}

// xnorRowsGo is the portable kernel over row-major weights (w.rows): rows of
// a in pairs against channels in fours, a 2×4 tile.
//
// Under GOAMD64=v1 every bits.OnesCount64 is a POPCNT behind a test of
// runtime.x86HasPOPCNT, with a call to the table version on the other path;
// the call makes the register allocator keep the loop's values in stack slots
// and each site costs a test, a taken jump and the spills (the previous 2×4
// loop, one popcount per word, ran 15–30% faster built with GOAMD64=v2,
// which drops the test). The tile therefore folds three words into a sum and a
// carry word with a carry-save adder (5 ALU ops) and popcounts those two:
// pop(x)+pop(y)+pop(z) = pop(s)+2·pop(c), 2 sites per 3 words instead of 3.
// The counts accumulate in small arrays (memory operands) rather than 16
// named variables, which would be spilled anyway. Every slice is re-sliced to
// the row length so the loops have no bounds checks but one per three words.
func xnorRowsGo(out []int32, ldo int, a *Matrix, w *Panels, r0, r1 int) {
	words, k, n := a.Words, a.K, w.N
	r := r0
	for ; r+2 <= r1; r += 2 {
		a0 := a.Data[r*words : (r+1)*words]
		a1 := a.Data[(r+1)*words : (r+2)*words][:len(a0)]
		o0, o1 := out[r*ldo:r*ldo+n], out[(r+1)*ldo:(r+1)*ldo+n]
		c := 0
		for ; c+4 <= n; c += 4 {
			w0, w1 := w.rows[c*words:(c+1)*words], w.rows[(c+1)*words:(c+2)*words]
			w2, w3 := w.rows[(c+2)*words:(c+3)*words], w.rows[(c+3)*words:(c+4)*words]
			w0, w1, w2, w3 = w0[:len(a0)], w1[:len(a0)], w2[:len(a0)], w3[:len(a0)]
			// ones[i]: Σ pop(sum words) for pair i (row i/4, channel i%4);
			// twos[i]: Σ pop(carry words), each bit worth 2.
			var ones, twos [8]int
			kk := 0
			for ; kk+3 <= len(a0); kk += 3 {
				p0, p1 := a0[kk:kk+3], a1[kk:kk+3]
				q := w0[kk : kk+3]
				s, cy := csa(p0[0]^q[0], p0[1]^q[1], p0[2]^q[2])
				ones[0] += bits.OnesCount64(s)
				twos[0] += bits.OnesCount64(cy)
				s, cy = csa(p1[0]^q[0], p1[1]^q[1], p1[2]^q[2])
				ones[4] += bits.OnesCount64(s)
				twos[4] += bits.OnesCount64(cy)
				q = w1[kk : kk+3]
				s, cy = csa(p0[0]^q[0], p0[1]^q[1], p0[2]^q[2])
				ones[1] += bits.OnesCount64(s)
				twos[1] += bits.OnesCount64(cy)
				s, cy = csa(p1[0]^q[0], p1[1]^q[1], p1[2]^q[2])
				ones[5] += bits.OnesCount64(s)
				twos[5] += bits.OnesCount64(cy)
				q = w2[kk : kk+3]
				s, cy = csa(p0[0]^q[0], p0[1]^q[1], p0[2]^q[2])
				ones[2] += bits.OnesCount64(s)
				twos[2] += bits.OnesCount64(cy)
				s, cy = csa(p1[0]^q[0], p1[1]^q[1], p1[2]^q[2])
				ones[6] += bits.OnesCount64(s)
				twos[6] += bits.OnesCount64(cy)
				q = w3[kk : kk+3]
				s, cy = csa(p0[0]^q[0], p0[1]^q[1], p0[2]^q[2])
				ones[3] += bits.OnesCount64(s)
				twos[3] += bits.OnesCount64(cy)
				s, cy = csa(p1[0]^q[0], p1[1]^q[1], p1[2]^q[2])
				ones[7] += bits.OnesCount64(s)
				twos[7] += bits.OnesCount64(cy)
			}
			for ; kk < len(a0); kk++ { // the last Words mod 3 words
				x, y := a0[kk], a1[kk]
				ones[0] += bits.OnesCount64(x ^ w0[kk])
				ones[1] += bits.OnesCount64(x ^ w1[kk])
				ones[2] += bits.OnesCount64(x ^ w2[kk])
				ones[3] += bits.OnesCount64(x ^ w3[kk])
				ones[4] += bits.OnesCount64(y ^ w0[kk])
				ones[5] += bits.OnesCount64(y ^ w1[kk])
				ones[6] += bits.OnesCount64(y ^ w2[kk])
				ones[7] += bits.OnesCount64(y ^ w3[kk])
			}
			o := o0[c : c+4]
			o[0] = int32(k - 2*(ones[0]+2*twos[0]))
			o[1] = int32(k - 2*(ones[1]+2*twos[1]))
			o[2] = int32(k - 2*(ones[2]+2*twos[2]))
			o[3] = int32(k - 2*(ones[3]+2*twos[3]))
			o = o1[c : c+4]
			o[0] = int32(k - 2*(ones[4]+2*twos[4]))
			o[1] = int32(k - 2*(ones[5]+2*twos[5]))
			o[2] = int32(k - 2*(ones[6]+2*twos[6]))
			o[3] = int32(k - 2*(ones[7]+2*twos[7]))
		}
		for ; c < n; c++ {
			wc := w.rows[c*words : (c+1)*words]
			o0[c] = int32(k - 2*xorPop(a0, wc))
			o1[c] = int32(k - 2*xorPop(a1, wc))
		}
	}
	if r < r1 { // an odd last row
		xnorRow(out[r*ldo:r*ldo+n], a.Data[r*words:(r+1)*words], w, k)
	}
}

// xnorRow computes the dot products of one packed row ar with every
// channel of w (row-major) into o: xnorRowsGo's odd last row.
func xnorRow(o []int32, ar []uint64, w *Panels, k int) {
	words := len(ar)
	for c := range o {
		o[c] = int32(k - 2*xorPop(ar, w.rows[c*words:(c+1)*words]))
	}
}

// csa is a carry-save adder over bit vectors: for each bit position,
// x+y+z = s + 2·c.
func csa(x, y, z uint64) (s, c uint64) {
	u := x ^ y
	return u ^ z, (x & y) | (u & z)
}

// xorPop returns Σ popcount(x[i] XOR y[i]) over len(x) words (y at least
// as long), three words per carry-save step.
func xorPop(x, y []uint64) int {
	y = y[:len(x)]
	var ones, twos int
	i := 0
	for ; i+3 <= len(x); i += 3 {
		p, q := x[i:i+3], y[i:i+3]
		s, c := csa(p[0]^q[0], p[1]^q[1], p[2]^q[2])
		ones += bits.OnesCount64(s)
		twos += bits.OnesCount64(c)
	}
	for ; i < len(x); i++ {
		ones += bits.OnesCount64(x[i] ^ y[i])
	}
	return ones + 2*twos
}
