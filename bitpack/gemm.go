package bitpack

import (
	"math/bits"
	"sync"
)

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

// parallelRows runs f over [0,rows) in up to threads contiguous chunks,
// each a multiple of the 4-row micro-tile.
func parallelRows(rows, threads int, f func(r0, r1 int)) {
	if threads <= 1 || rows <= 4 {
		f(0, rows)
		return
	}
	chunk := (rows + threads - 1) / threads
	chunk = (chunk + 3) &^ 3
	var wg sync.WaitGroup
	for r0 := 0; r0 < rows; r0 += chunk {
		wg.Add(1)
		go func(r0, r1 int) {
			defer wg.Done()
			f(r0, r1)
		}(r0, min(r0+chunk, rows))
	}
	wg.Wait()
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

// xnorRowsGo is the portable kernel over row-major weights: 2 rows × 4 channels
// per register tile, every slice re-sliced to the K length so the compiler drops
// the bounds checks from the inner loop.
func xnorRowsGo(out []int32, ldo int, a *Matrix, w *Panels, r0, r1 int) {
	words, k := a.Words, a.K
	for r := r0; r < r1; r += 2 {
		a0 := a.Data[r*words : (r+1)*words]
		a1 := a0
		two := r+1 < r1
		if two {
			a1 = a.Data[(r+1)*words : (r+2)*words]
		}
		o0 := out[r*ldo : r*ldo+w.N]
		var o1 []int32
		if two {
			o1 = out[(r+1)*ldo : (r+1)*ldo+w.N]
		}
		n := 0
		for ; n+4 <= w.N; n += 4 {
			w0 := w.rows[n*words : (n+1)*words]
			w1 := w.rows[(n+1)*words : (n+2)*words]
			w2 := w.rows[(n+2)*words : (n+3)*words]
			w3 := w.rows[(n+3)*words : (n+4)*words]
			a1 := a1[:len(a0)]
			w0, w1, w2, w3 = w0[:len(a0)], w1[:len(a0)], w2[:len(a0)], w3[:len(a0)]
			var c00, c01, c02, c03, c10, c11, c12, c13 int
			for kk, x0 := range a0 {
				x1 := a1[kk]
				v0, v1, v2, v3 := w0[kk], w1[kk], w2[kk], w3[kk]
				c00 += bits.OnesCount64(x0 ^ v0)
				c01 += bits.OnesCount64(x0 ^ v1)
				c02 += bits.OnesCount64(x0 ^ v2)
				c03 += bits.OnesCount64(x0 ^ v3)
				c10 += bits.OnesCount64(x1 ^ v0)
				c11 += bits.OnesCount64(x1 ^ v1)
				c12 += bits.OnesCount64(x1 ^ v2)
				c13 += bits.OnesCount64(x1 ^ v3)
			}
			o := o0[n : n+4]
			o[0], o[1], o[2], o[3] = int32(k-2*c00), int32(k-2*c01), int32(k-2*c02), int32(k-2*c03)
			if two {
				o := o1[n : n+4]
				o[0], o[1], o[2], o[3] = int32(k-2*c10), int32(k-2*c11), int32(k-2*c12), int32(k-2*c13)
			}
		}
		for ; n < w.N; n++ {
			wn := w.rows[n*words : (n+1)*words]
			wn = wn[:len(a0)]
			a1 := a1[:len(a0)]
			var c0, c1 int
			for kk, x0 := range a0 {
				c0 += bits.OnesCount64(x0 ^ wn[kk])
				c1 += bits.OnesCount64(a1[kk] ^ wn[kk])
			}
			o0[n] = int32(k - 2*c0)
			if two {
				o1[n] = int32(k - 2*c1)
			}
		}
	}
}
