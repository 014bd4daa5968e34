package bitpack

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// specialRow returns n floats mixing random values with NaN, ±0, ±Inf,
// ±1 and values just beyond ±1.
func specialRow(rng *rand.Rand, n int) []float32 {
	nan := float32(math.NaN())
	sp := []float32{nan, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		1, -1, math.Nextafter32(1, 2), math.Nextafter32(-1, -2), 1e-40, -1e-40}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(3) == 0 {
			x[i] = sp[rng.IntN(len(sp))]
		} else {
			x[i] = float32(rng.NormFloat64() * 2)
		}
	}
	return x
}

// TestRowKernels: the assembly row kernels give the Go loops' bits, for
// lengths around the 16-lane and 64-value blocks, with NaN, ±0 and ±Inf.
func TestRowKernels(t *testing.T) {
	if !cpuHasEW || !asmAllowed {
		t.Skip("no AVX-512 row kernels on this CPU (or LOWBIT_NOASM=1): the Go loops are the only path")
	}
	type rowOp struct {
		name string
		f    func(y, r []float32, acc []int32)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := specialRow(rng, 300), specialRow(rng, 300)
	ops := []rowOp{
		{"bn", func(y, _ []float32, _ []int32) { bnRow(y, a[:len(y)], b[:len(y)]) }},
		{"hardtanh", func(y, _ []float32, _ []int32) { hardTanhRow(y) }},
		{"relu", func(y, _ []float32, _ []int32) { reluRow(y) }},
		{"add", func(y, r []float32, _ []int32) { addRow(y, r) }},
		{"max", func(y, r []float32, _ []int32) { maxRow(y, r) }},
		{"xnor", func(y, _ []float32, acc []int32) { xnorOutRow(y, acc, a[:len(y)], nil) }},
		{"xnor bias", func(y, _ []float32, acc []int32) { xnorOutRow(y, acc, a[:len(y)], b[:len(y)]) }},
		{"epilogue", func(y, r []float32, acc []int32) {
			bn := stage{kind: opBN, a: a[:len(y)], b: b[:len(y)]}
			f := &fusedXNOR{l: &linear{scale1: a[:len(y)], bias: b[:len(y)]}, pre: []stage{bn, {kind: opReLU}}}
			post := []stage{{kind: opHardTanh}}
			o, fits := oneStepOf(f.pre, post)
			f.epilogueRow(y, acc, r, post, &o, fits && kernels.ew)
		}},
		{"bn act max", func(y, r []float32, _ []int32) {
			p := &poolLayer{max: true, h: 1, w: 2, c: len(y), kh: 1, kw: 2, st: 1, oh: 1, ow: 1,
				pre: []stage{{kind: opBN, a: a[:len(y)], b: b[:len(y)]}, {kind: opHardTanh}}}
			x := append(append([]float32(nil), y...), r...)
			p.poolRow(y, x, 0, 0, make([]float32, len(y)))
		}},
		{"int32 add", func(y, _ []float32, acc []int32) {
			d := append([]int32(nil), acc[:len(y)]...)
			slices.Reverse(d)
			addInt32Row(d, acc[:len(y)])
			for i := range y {
				y[i] = float32(d[i]) // |d| < 2^20: exact
			}
		}},
		{"pack", func(y, _ []float32, _ []int32) {
			w := make([]uint64, wordsFor(len(y)))
			packSigns(w, y)
			for i := range y {
				y[i] = float32(w[i/64] >> uint(i%64) & 1)
			}
		}},
	}
	for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 128, 130, 300} {
		for _, op := range ops {
			x, r := specialRow(rng, n), specialRow(rng, n)
			acc := make([]int32, n)
			for i := range acc {
				acc[i] = int32(rng.IntN(1<<20) - 1<<19)
			}
			got := append([]float32(nil), x...)
			op.f(got, r, acc)
			restore := setAsm(false)
			want := append([]float32(nil), x...)
			op.f(want, r, acc)
			restore()
			for i := range want {
				g, w := got[i], want[i]
				if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("%s n=%d [%d]: asm %g (%#x), Go %g (%#x); x=%g r=%g", op.name, n, i, g, math.Float32bits(g), w, math.Float32bits(w), x[i], r[i])
				}
			}
		}
	}
}

// TestEpilogueRows: the xnor epilogue over blocks of rows in one
// assembly pass (epilogueRows), packing the signs in the pass or after
// it, gives the per-row Go path's floats and packed words, for row
// lengths that are and are not whole words, with and without the
// residual.
func TestEpilogueRows(t *testing.T) {
	if !cpuHasEW || !asmAllowed {
		t.Skip("no AVX-512 row kernels on this CPU (or LOWBIT_NOASM=1): the Go loops are the only path")
	}
	rng := rand.New(rand.NewPCG(8, 1))
	for _, c := range []int{16, 48, 64, 128} {
		for _, withRes := range []bool{false, true} {
			const rows, r0, r1 = 9, 2, 7
			a, b := specialRow(rng, c), specialRow(rng, c)
			bn := stage{kind: opBN, a: a, b: b}
			f := &fusedXNOR{l: &linear{cout: c, scale1: specialRow(rng, c), bias: b}, pre: []stage{bn, {kind: opHardTanh}}}
			post := []stage{{kind: opReLU}}
			if !withRes {
				post = nil
			}
			o, fits := oneStepOf(f.pre, post)
			if !fits {
				t.Fatal("stages do not fit epiRowAVX")
			}
			acc := make([]int32, rows*c)
			for i := range acc {
				acc[i] = int32(rng.IntN(1<<12) - 1<<11)
			}
			var res []float32
			if withRes {
				res = specialRow(rng, rows*c)
			}
			got, want := make([]float32, rows*c), make([]float32, rows*c)
			pg, pw := new(Map).reshape(1, 1, rows, c), new(Map).reshape(1, 1, rows, c)
			f.epilogueRows(got, acc[r0*c:r1*c], res, r0, r1, &o, pg)
			restore := setAsm(false)
			for r := r0; r < r1; r++ {
				var rr []float32
				if withRes {
					rr = res[r*c : (r+1)*c]
				}
				f.epilogueRow(want[r*c:(r+1)*c], acc[r*c:(r+1)*c], rr, post, &o, false)
			}
			packRows(pw, want, c, r0, r1)
			restore()
			for i := range want {
				if g, w := got[i], want[i]; math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("c=%d res=%v [%d]: asm %g, Go %g", c, withRes, i, g, w)
				}
			}
			if !slices.Equal(pg.Data, pw.Data) {
				t.Fatalf("c=%d res=%v: packed %x, want %x", c, withRes, pg.Data, pw.Data)
			}
		}
	}
}
