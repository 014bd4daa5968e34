package bitpack

import "math/bits"

// Code says how the unsigned b-bit code q of a bit-serial weight maps to
// its integer level.
type Code int

const (
	// Unsigned: level = q, q in [0, 2^b).
	Unsigned Code = iota
	// Binary (1 bit): level = 1 − 2q, so bit 1 is −1 as in the XNOR
	// kernels and the same packed weights serve both.
	Binary
	// Offset: level = 2q − (2^b − 1), the odd symmetric levels. DoReFa
	// 2-bit weights (2q−3)/3 ∈ {−1, −1/3, 1/3, 1} are level/3.
	Offset
)

// Planes holds Rows×K unsigned activation codes of Bits (1 or 2) bits as
// bit planes interleaved per word: plane b of word j of row r is
// Data[(r*Words+j)*Bits+b]. RowSum[r] = Σ_k q[r][k] feeds the affine maps.
// DoReFa 2-bit activations q/3 use q directly (scale 1/3 outside).
type Planes struct {
	Rows, K, Bits, Words int
	Data                 []uint64
	RowSum               []int32
}

func checkCodes(q []uint8, rows, k, nbits int, name string) error {
	if nbits < 1 || nbits > 2 {
		return shapeErr("%s: %d bits, want 1 or 2", name, nbits)
	}
	if rows < 1 || k < 1 || len(q) != rows*k {
		return shapeErr("%s: len(q)=%d, want %d×%d", name, len(q), rows, k)
	}
	for i, v := range q {
		if int(v) >= 1<<nbits {
			return shapeErr("%s: code q[%d]=%d needs more than %d bits", name, i, v, nbits)
		}
	}
	return nil
}

// PackPlanes packs row-major codes q (rows×k, each < 2^nbits).
func PackPlanes(q []uint8, rows, k, nbits int) (*Planes, error) {
	if err := checkCodes(q, rows, k, nbits, "PackPlanes"); err != nil {
		return nil, err
	}
	w := wordsFor(k)
	p := &Planes{Rows: rows, K: k, Bits: nbits, Words: w, Data: make([]uint64, rows*w*nbits), RowSum: make([]int32, rows)}
	for r := 0; r < rows; r++ {
		var s int32
		for i, v := range q[r*k : (r+1)*k] {
			s += int32(v)
			for b := 0; b < nbits; b++ {
				p.Data[(r*w+i/64)*nbits+b] |= uint64(v>>uint(b)&1) << uint(i%64)
			}
		}
		p.RowSum[r] = s
	}
	return p, nil
}

// PlanePanels holds N rows (output channels) of K weight codes of Bits
// bits in PanelWidth panels per plane: word j of plane b of row n is
// Data[((b*panels+n/PanelWidth)*Words+j)*PanelWidth+n%PanelWidth].
type PlanePanels struct {
	N, K, Bits, Words int
	Code              Code
	Data              []uint64
}

// PackPlanePanels packs row-major weight codes q (n×k, each < 2^nbits)
// with the level map code. Binary needs nbits = 1.
func PackPlanePanels(q []uint8, n, k, nbits int, code Code) (*PlanePanels, error) {
	if err := checkCodes(q, n, k, nbits, "PackPlanePanels"); err != nil {
		return nil, err
	}
	if code == Binary && nbits != 1 || code < Unsigned || code > Offset {
		return nil, shapeErr("PackPlanePanels: code %d with %d bits", code, nbits)
	}
	w := wordsFor(k)
	np := panelsFor(n)
	p := &PlanePanels{N: n, K: k, Bits: nbits, Words: w, Code: code, Data: make([]uint64, nbits*np*w*PanelWidth)}
	for r := 0; r < n; r++ {
		for i, v := range q[r*k : (r+1)*k] {
			for b := 0; b < nbits; b++ {
				p.Data[((b*np+r/PanelWidth)*w+i/64)*PanelWidth+r%PanelWidth] |= uint64(v>>uint(b)&1) << uint(i%64)
			}
		}
	}
	return p, nil
}

// affine returns c and off(m) with out = c·raw + off(m), raw = Σ qx·qw.
func (w *PlanePanels) affine() (c int, offMul int) {
	switch w.Code {
	case Binary: // Σ x(1−2q) = RowSum − 2·raw
		return -2, 1
	case Offset: // Σ x(2q − (2^b−1)) = 2·raw − (2^b−1)·RowSum
		return 2, -(1<<w.Bits - 1)
	}
	return 1, 0
}

// BitSerialGEMM computes out[m*w.N+n] = Σ_k qx[m][k]·level(w[n][k]) as
// raw = Σ_a Σ_b 2^(a+b)·popcount(x_a AND w_b) over unsigned bit planes,
// followed by the affine map of w.Code (see Code). For DoReFa W2A2 the
// real output is out/9, for binary-weight A2 it is out/3.
func BitSerialGEMM(out []int32, x *Planes, w *PlanePanels) error {
	switch {
	case x == nil || w == nil:
		return shapeErr("BitSerialGEMM: nil operand")
	case x.K != w.K || x.Words != w.Words || x.Words < 1:
		return shapeErr("BitSerialGEMM: x has K=%d, w has K=%d", x.K, w.K)
	case len(x.Data) < x.Rows*x.Words*x.Bits || len(x.RowSum) < x.Rows:
		return shapeErr("BitSerialGEMM: x.Data too short")
	case len(w.Data) < w.Bits*panelsFor(w.N)*w.Words*PanelWidth:
		return shapeErr("BitSerialGEMM: w.Data too short")
	case len(out) < x.Rows*w.N:
		return shapeErr("BitSerialGEMM: len(out)=%d, want %d×%d", len(out), x.Rows, w.N)
	}
	bitSerialGEMM(out, w.N, x, w, 0, x.Rows)
	return nil
}

func bitSerialGEMM(out []int32, ldo int, x *Planes, w *PlanePanels, r0, r1 int) {
	c, offMul := w.affine()
	np := panelsFor(w.N)
	pwLen := w.Words * PanelWidth
	lda := x.Words * x.Bits
	var tmp [2 * PanelWidth]int32
	for p := 0; p < np; p++ {
		c0 := p * PanelWidth
		nr := min(PanelWidth, w.N-c0)
		for r := r0; r < r1; r += 2 {
			mr := min(2, r1-r)
			if !kernels.popcnt || x.Bits != 2 {
				bitSerialTileGo(out[r*ldo+c0:], ldo, x, r, mr, w, p, nr, c, offMul)
				continue
			}
			a0 := &x.Data[r*lda]
			a1 := a0
			off0 := offMul * int(x.RowSum[r])
			off1 := off0
			if mr == 2 {
				a1 = &x.Data[(r+1)*lda]
				off1 = offMul * int(x.RowSum[r+1])
			}
			direct := mr == 2 && nr == PanelWidth
			for b := 0; b < w.Bits; b++ {
				pw := w.Data[(b*np+p)*pwLen:]
				if direct {
					and2x32(a0, a1, &pw[0], x.Words, &out[r*ldo+c0], ldo, c<<uint(b), off0, off1, b)
				} else {
					and2x32(a0, a1, &pw[0], x.Words, &tmp[0], PanelWidth, c<<uint(b), off0, off1, b)
				}
			}
			if !direct {
				for i := 0; i < mr; i++ {
					copy(out[(r+i)*ldo+c0:(r+i)*ldo+c0+nr], tmp[i*PanelWidth:])
				}
			}
		}
	}
}

// bitSerialTileGo is the portable kernel for an mr×nr tile, 4 lanes at a
// time.
func bitSerialTileGo(out []int32, ldo int, x *Planes, r, mr int, w *PlanePanels, p, nr, c, offMul int) {
	np := panelsFor(w.N)
	words := x.Words
	for i := 0; i < mr; i++ {
		xr := x.Data[(r+i)*words*x.Bits:][:words*x.Bits]
		off := int32(offMul) * x.RowSum[r+i]
		for j := 0; j < nr; j += 4 {
			var t0, t1, t2, t3 int
			for b := 0; b < w.Bits; b++ {
				pw := w.Data[(b*np+p)*words*PanelWidth:][:words*PanelWidth]
				var s0, s1, s2, s3 int
				if x.Bits == 2 {
					for kk := 0; kk < words; kk++ {
						x0, x1 := xr[2*kk], xr[2*kk+1]
						wv := pw[kk*PanelWidth+j:][:4]
						s0 += bits.OnesCount64(x0&wv[0]) + 2*bits.OnesCount64(x1&wv[0])
						s1 += bits.OnesCount64(x0&wv[1]) + 2*bits.OnesCount64(x1&wv[1])
						s2 += bits.OnesCount64(x0&wv[2]) + 2*bits.OnesCount64(x1&wv[2])
						s3 += bits.OnesCount64(x0&wv[3]) + 2*bits.OnesCount64(x1&wv[3])
					}
				} else {
					for kk, x0 := range xr {
						wv := pw[kk*PanelWidth+j:][:4]
						s0 += bits.OnesCount64(x0 & wv[0])
						s1 += bits.OnesCount64(x0 & wv[1])
						s2 += bits.OnesCount64(x0 & wv[2])
						s3 += bits.OnesCount64(x0 & wv[3])
					}
				}
				t0 += s0 << uint(b)
				t1 += s1 << uint(b)
				t2 += s2 << uint(b)
				t3 += s3 << uint(b)
			}
			t := [4]int{t0, t1, t2, t3}
			o := out[i*ldo:]
			for jj := 0; jj < 4 && j+jj < nr; jj++ {
				o[j+jj] = int32(c*t[jj]) + off
			}
		}
	}
}
