package bitpack

import "sync"

// Winograd F(2×2, 3×3) in exact integer arithmetic for KernelInt8 3×3
// stride-1 convolutions (engine_int.go runs it where winoPrepare built
// the weights).
//
// A 2×2 tile of outputs is Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A over the 4×4
// input patch d and the 3×3 kernel g, summed over input channels: 16
// products per input channel instead of 36. With G' = 2·G every factor is
// an integer: U = G'·g·G'ᵀ (|U| <= 127 is checked when the layer is
// built), V = Bᵀ·d·B lies in [−2·cmax, 4·cmax] for codes in [0, cmax] and
// is stored as the unsigned byte V + z, z = 2·cmax (cmax <= 42). The 16
// products are u8×s8 GEMMs over the input channels (vnni4x64), and
//
//	Aᵀ·M·A = 4·Σ_c Σ_taps code·w + z·Aᵀ·(Σ_c U)·A
//
// exactly, in int32 (no sum can overflow: see winoPrepare), so
// (Aᵀ·M·A − corr) >> 2 with corr = z·Aᵀ·(Σ_c U)·A + 4·offset·Σw is the
// layer's offset-corrected accumulator, the same integer the direct
// kernel computes. Only integers are reordered; the float epilogue is
// unchanged.

// winoWeights are a layer's transformed weights.
type winoWeights struct {
	u    []int8  // 16 panels U[e] (e = 4a+b), each cout×cin in the S8Panels layout
	corr []int32 // [4][cout]: the correction of output (i, j) of a tile, at (2i+j)·cout
	z    int     // the offset added to V
}

// winoPool holds the threads' block buffers, shared by every Winograd
// layer (and model), so a layer finds them in cache.
var winoPool = sync.Pool{New: func() any { return new(winoScratch) }}

// winoScratch is one thread's block buffers.
type winoScratch struct {
	v   []uint8 // [t4][16][cin] transformed input tiles
	m   []int32 // [t4][16][cout] products
	tmp []int32 // [2][2][cout] an edge tile's outputs
	acc []int32 // a block's accumulators when the caller keeps none
}

var (
	winoG  = [4][3]int{{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}}
	winoAT = [2][4]int{{1, 1, 1, 0}, {0, 1, -1, -1}}
)

// winoPrepare builds l.wino from the int8 weight levels (OHWI, cout×k)
// when the layer and the CPU allow it; otherwise l.wino stays nil.
func (l *linear) winoPrepare(levels []int8) {
	if !winoAvailable() || l.dense || l.kh != 3 || l.kw != 3 || l.stride != 1 ||
		l.cin%64 != 0 || l.cout%64 != 0 || l.cin > 4096 || l.q.MaxCode() > 42 {
		return
	}
	cin, cout := l.cin, l.cout
	u := make([]int8, 16*cout*cin)
	usum := make([]int64, 16*cout)
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			var t [4][3]int // G'·g
			for a := range 4 {
				for j := range 3 {
					for i := range 3 {
						t[a][j] += winoG[a][i] * int(levels[o*l.k+(i*3+j)*cin+c])
					}
				}
			}
			for a := range 4 {
				for b := range 4 {
					v := t[a][0]*winoG[b][0] + t[a][1]*winoG[b][1] + t[a][2]*winoG[b][2]
					if v < -128 || v > 127 {
						return
					}
					e := a*4 + b
					u[e*cout*cin+(((o/64)*(cin/4)+c/4)*64+o%64)*4+c%4] = int8(v)
					usum[e*cout+o] += int64(v)
				}
			}
		}
	}
	w := &winoWeights{u: u, corr: make([]int32, 4*cout), z: 2 * l.q.MaxCode()}
	off := int64(l.q.Offset())
	for pos := range 4 {
		i, j := pos/2, pos%2
		for o := 0; o < cout; o++ {
			var s, ls int64
			for e := range 16 {
				s += int64(winoAT[i][e/4]*winoAT[j][e%4]) * usum[e*cout+o]
			}
			for _, v := range levels[o*l.k : (o+1)*l.k] {
				ls += int64(v)
			}
			c := int64(w.z)*s + 4*off*ls
			if c != int64(int32(c)) {
				return
			}
			w.corr[pos*cout+o] = int32(c)
		}
	}
	l.wino = w
}

// winoForward computes the accumulators of every output pixel (offset
// corrected) and runs epi on each finished block of rows with the
// block's accumulators: in acc, or with acc nil in the thread's block
// buffer.
func (l *linear) winoForward(sc *intScratch, acc []int32, x []float32, n, threads int, epi func(r0, r1 int, a []int32)) {
	th, tw := (l.oh+1)/2, (l.ow+1)/2
	hp, wp := 2*th+2, 2*tw+2
	xp := l.inputPadded(sc, x, n, hp, wp, threads)
	defer sc.releaseCodes()
	units := n * th
	rpb := max(1, 32/tw) // tile rows per block
	pix := func(u int) int { return (u/th*l.oh + min(2*(u%th), l.oh)) * l.ow }
	// Chunks of 4·units rows end on whole tile rows.
	parallelRows(4*units, threads, func(r0, r1 int) {
		ws := winoPool.Get().(*winoScratch)
		defer winoPool.Put(ws)
		for u := r0 / 4; u < r1/4; u += rpb {
			u1 := min(u+rpb, r1/4)
			p0, p1 := pix(u), pix(u1)
			a, base := acc, 0
			if acc == nil {
				ws.acc = grow32(ws.acc, rpb*2*l.ow*l.cout)
				a, base = ws.acc, p0
			}
			l.winoBlock(ws, a, base, xp, u, u1, hp, wp, th, tw)
			epi(p0, p1, a[(p0-base)*l.cout:(p1-base)*l.cout])
		}
	})
}

// winoBlock computes the outputs of tile rows [u0, u1) (over the batch:
// u = sample·th + tile row) from the padded codes xp. Tile t's 16
// transformed inputs are ws.v[t·16·cin:] and its products ws.m[t·16·cout:]
// (e·cin and e·cout apart), so the output transform reads each tile's
// products in one run.
// acc[0] is output pixel base's first accumulator.
func (l *linear) winoBlock(ws *winoScratch, acc []int32, base int, xp []uint8, u0, u1, hp, wp, th, tw int) {
	cin, cout, w := l.cin, l.cout, l.wino
	nt := (u1 - u0) * tw
	t4 := (nt + 3) &^ 3
	ws.v = growU8(ws.v, 16*t4*cin)
	ws.m = grow32(ws.m, 16*t4*cout)
	for u := u0; u < u1; u++ {
		b, ty := u/th, u%th
		winoIn(&xp[(b*hp+2*ty)*wp*cin], wp*cin, cin, &ws.v[(u-u0)*tw*16*cin], cin, 16*cin, tw, w.z)
	}
	v, m, ld := ws.v, ws.m, 16*cin
	for e := range 16 {
		for p := 0; p < cout/64; p++ {
			pd := &w.u[e*cout*cin+p*cin*64]
			for g := 0; g < t4; g += 4 {
				a := g*ld + e*cin
				vnni4x64(&v[a], &v[a+ld], &v[a+2*ld], &v[a+3*ld], pd, cin/4, &m[(g*16+e)*cout+p*64], 16*cout, 0)
			}
		}
	}
	for u := u0; u < u1; u++ {
		l.winoOutRow(ws, acc, base, u/th, 2*(u%th), ws.m[(u-u0)*tw*16*cout:], tw)
	}
}

// winoOutRow writes the outputs of one tile row (output rows y0, y0+1 of
// sample b) from its products m.
func (l *linear) winoOutRow(ws *winoScratch, acc []int32, base, b, y0 int, m []int32, tw int) {
	cout, ow, w := l.cout, l.ow, l.wino
	es, ts := cout*4, 16*cout*4
	row := ((b*l.oh+y0)*ow - base) * cout
	full := 0
	if y0+1 < l.oh {
		full = ow / 2
		if full > 0 {
			winoOut(&m[0], es, ts, &w.corr[0], &acc[row], &acc[row+ow*cout], cout, full)
		}
	}
	ws.tmp = grow32(ws.tmp, 4*cout)
	for t := full; t < tw; t++ {
		winoOut(&m[t*16*cout], es, ts, &w.corr[0], &ws.tmp[0], &ws.tmp[2*cout], cout, 1)
		for i := 0; i < 2 && y0+i < l.oh; i++ {
			for j := 0; j < 2 && 2*t+j < ow; j++ {
				copy(acc[row+(i*ow+2*t+j)*cout:][:cout], ws.tmp[(2*i+j)*cout:])
			}
		}
	}
}

// winoAvailable reports whether the Winograd path can run on this CPU.
func winoAvailable() bool { return asmAllowed && cpuHasWino }
