package gemm

// Packing copies blocks of op(A) and op(B) into the layout the
// micro-kernels stream: an A micro-panel holds, for each p, mr consecutive
// rows; a B micro-panel holds, for each p, nr consecutive columns. Panels
// past the matrix edge are zero-padded so the kernel only sees full tiles.

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into dst as ceil(mc/mr) panels of
// kc*mr floats. op(A)(i, p) is a[i*lda+p], or a[p*lda+i] when trans.
func packA(dst []float32, trans bool, a []float32, lda, i0, mc, p0, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : ir*kc+mr*kc]
		if trans {
			packRowsContig(d, a, lda, p0, kc, i0+ir, rows, mr)
		} else {
			packRowsStrided(d, a, lda, i0+ir, rows, p0, kc, mr)
		}
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into dst as ceil(nc/nr) panels of
// kc*nr floats. op(B)(p, j) is b[p*ldb+j], or b[j*ldb+p] when trans.
func packB(dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : jr*kc+nr*kc]
		if trans {
			packRowsStrided(d, b, ldb, j0+jr, cols, p0, kc, nr)
		} else {
			packRowsContig(d, b, ldb, p0, kc, j0+jr, cols, nr)
		}
	}
}

// packRowsContig sets d[p*w+x] = src[(p0+p)*ld + x0+x] for p < kc, x < cnt,
// zero for cnt <= x < w: each step copies one contiguous run.
func packRowsContig(d, src []float32, ld, p0, kc, x0, cnt, w int) {
	if packVector && w <= 32 && kc > 0 {
		copyPanels(d, src[p0*ld+x0:], kc, ld, w, cnt, w)
		return
	}
	if cnt == w {
		switch w {
		case 32:
			for p := range kc {
				o := (p0+p)*ld + x0
				*(*[32]float32)(d[p*32:]) = *(*[32]float32)(src[o:])
			}
			return
		case 16:
			for p := range kc {
				o := (p0+p)*ld + x0
				*(*[16]float32)(d[p*16:]) = *(*[16]float32)(src[o:])
			}
			return
		case 8:
			for p := range kc {
				o := (p0+p)*ld + x0
				*(*[8]float32)(d[p*8:]) = *(*[8]float32)(src[o:])
			}
			return
		case 4:
			for p := range kc {
				o := (p0+p)*ld + x0
				*(*[4]float32)(d[p*4:]) = *(*[4]float32)(src[o:])
			}
			return
		}
	}
	// A partial panel: short element loops beat memmove and memclr calls
	// for runs this short.
	for p := range kc {
		o := (p0+p)*ld + x0
		dp := d[p*w : p*w+w]
		for x, v := range src[o : o+cnt] {
			dp[x] = v
		}
		for x := cnt; x < w; x++ {
			dp[x] = 0
		}
	}
}

// packRowsStrided sets d[p*w+x] = src[(x0+x)*ld + p0+p] for p < kc, x < cnt,
// zero for cnt <= x < w: a transpose of cnt source rows.
func packRowsStrided(d, src []float32, ld, x0, cnt, p0, kc, w int) {
	d = d[:kc*w]
	x := 0
	// Four source rows at a time keeps four read streams and fewer passes
	// over d.
	for ; x+4 <= cnt; x += 4 {
		o := (x0+x)*ld + p0
		r0 := src[o : o+kc]
		r1 := src[o+ld : o+ld+kc]
		r2 := src[o+2*ld : o+2*ld+kc]
		r3 := src[o+3*ld : o+3*ld+kc]
		for p := range kc {
			q := d[p*w+x : p*w+x+4 : p*w+x+4]
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
	for ; x < cnt; x++ {
		o := (x0+x)*ld + p0
		r := src[o : o+kc]
		for p, v := range r {
			d[p*w+x] = v
		}
	}
	if cnt < w {
		for p := range kc {
			clear(d[p*w+cnt : p*w+w])
		}
	}
}
