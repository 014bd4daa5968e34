package bitpack

// S8PanelWidth is the number of output channels in one int8 weight panel.
const S8PanelWidth = 64

// U8Matrix holds Rows×K unsigned 8-bit activations, each row zero-padded
// to Kp = 4·ceil(K/4) bytes: row r is Data[r*Kp : (r+1)*Kp].
type U8Matrix struct {
	Rows, K, Kp int
	Data        []uint8
}

// PackU8 copies the row-major a (rows×k) into a U8Matrix.
func PackU8(a []uint8, rows, k int) (*U8Matrix, error) {
	if rows < 1 || k < 1 || len(a) != rows*k {
		return nil, shapeErr("PackU8: len(a)=%d, want %d×%d", len(a), rows, k)
	}
	kp := (k + 3) &^ 3
	m := &U8Matrix{Rows: rows, K: k, Kp: kp, Data: make([]uint8, rows*kp)}
	for r := 0; r < rows; r++ {
		copy(m.Data[r*kp:], a[r*k:(r+1)*k])
	}
	return m, nil
}

// S8Panels holds N rows (output channels) of K signed 8-bit weights in
// panels of S8PanelWidth rows, in groups of 4 consecutive k as VPDPBUSD
// wants them: byte b of group g of row n is
// Data[(((n/64)*(Kp/4)+g)*64+n%64)*4+b]. 4-bit weights are stored
// unpacked, one per int8.
type S8Panels struct {
	N, K, Kp int
	Data     []int8
}

// PackS8Panels packs the row-major weights w (n×k).
func PackS8Panels(w []int8, n, k int) (*S8Panels, error) {
	if n < 1 || k < 1 || len(w) != n*k {
		return nil, shapeErr("PackS8Panels: len(w)=%d, want %d×%d", len(w), n, k)
	}
	kp := (k + 3) &^ 3
	g := kp / 4
	np := (n + S8PanelWidth - 1) / S8PanelWidth
	p := &S8Panels{N: n, K: k, Kp: kp, Data: make([]int8, np*g*S8PanelWidth*4)}
	for r := 0; r < n; r++ {
		for i, v := range w[r*k : (r+1)*k] {
			p.Data[(((r/S8PanelWidth)*g+i/4)*S8PanelWidth+r%S8PanelWidth)*4+i%4] = v
		}
	}
	return p, nil
}

// GEMMU8S8 computes out[m*w.N+n] = Σ_k a[m][k]·w[n][k] with a unsigned
// and w signed bytes. The semantics are exactly those of AVX-512 VNNI
// VPDPBUSD: each group of four u8×s8 products is summed exactly (it fits
// in 18 bits) and added to the int32 accumulator with wrap-around, never
// saturating (that is VPDPBUSDS). The portable path wraps the same way, so
// both paths agree bit for bit even when the sum overflows int32.
func GEMMU8S8(out []int32, a *U8Matrix, w *S8Panels) error {
	np := (w.N + S8PanelWidth - 1) / S8PanelWidth
	switch {
	case a == nil || w == nil:
		return shapeErr("GEMMU8S8: nil operand")
	case a.K != w.K || a.Kp != w.Kp || a.Kp < 4:
		return shapeErr("GEMMU8S8: a has K=%d, w has K=%d", a.K, w.K)
	case len(a.Data) < a.Rows*a.Kp:
		return shapeErr("GEMMU8S8: a.Data has %d bytes, want %d", len(a.Data), a.Rows*a.Kp)
	case len(w.Data) < np*w.Kp*S8PanelWidth:
		return shapeErr("GEMMU8S8: w.Data has %d bytes, want %d", len(w.Data), np*w.Kp*S8PanelWidth)
	case len(out) < a.Rows*w.N:
		return shapeErr("GEMMU8S8: len(out)=%d, want %d×%d", len(out), a.Rows, w.N)
	}
	gemmU8S8(out, w.N, a, w, 0, a.Rows)
	return nil
}

func gemmU8S8(out []int32, ldo int, a *U8Matrix, w *S8Panels, r0, r1 int) {
	groups := a.Kp / 4
	pLen := groups * S8PanelWidth * 4
	var tmp [4 * S8PanelWidth]int32
	for p := 0; p*S8PanelWidth < w.N; p++ {
		pw := w.Data[p*pLen : (p+1)*pLen]
		c0 := p * S8PanelWidth
		nr := min(S8PanelWidth, w.N-c0)
		for r := r0; r < r1; r += 4 {
			mr := min(4, r1-r)
			if !kernels.vnni {
				for i := 0; i < mr; i++ {
					u8TileGo(out[(r+i)*ldo+c0:][:nr], a.Data[(r+i)*a.Kp:][:a.Kp], pw)
				}
				continue
			}
			var rp [4]*uint8
			for i := range rp {
				rp[i] = &a.Data[r*a.Kp]
				if i < mr {
					rp[i] = &a.Data[(r+i)*a.Kp]
				}
			}
			if mr == 4 && nr == S8PanelWidth {
				vnni4x64(rp[0], rp[1], rp[2], rp[3], &pw[0], groups, &out[r*ldo+c0], ldo, 0)
				continue
			}
			vnni4x64(rp[0], rp[1], rp[2], rp[3], &pw[0], groups, &tmp[0], S8PanelWidth, 0)
			for i := 0; i < mr; i++ {
				copy(out[(r+i)*ldo+c0:(r+i)*ldo+c0+nr], tmp[i*S8PanelWidth:])
			}
		}
	}
}

// u8TileGo computes one row against one panel (len(out) <= 64 lanes).
func u8TileGo(out []int32, a []uint8, pw []int8) {
	var acc [S8PanelWidth]int32
	for g := 0; g+4 <= len(a); g += 4 {
		a0, a1, a2, a3 := int32(a[g]), int32(a[g+1]), int32(a[g+2]), int32(a[g+3])
		if a0|a1|a2|a3 == 0 {
			continue
		}
		wv := (*[4 * S8PanelWidth]int8)(pw[g*S8PanelWidth:])
		for j := range acc {
			acc[j] += a0*int32(wv[4*j]) + a1*int32(wv[4*j+1]) + a2*int32(wv[4*j+2]) + a3*int32(wv[4*j+3])
		}
	}
	copy(out, acc[:])
}
