package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// withAsm runs f with the assembly loops on and off (off only where the CPU lacks them).
func withAsm(t testing.TB, f func(t testing.TB, asm bool)) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, on := range []bool{false, true} {
		if on && !hasAVX512 {
			t.Log("no AVX-512: assembly not tested")
			continue
		}
		useAsm = on
		f(t, on)
	}
}

// inputs mixes random values with the edge cases: ±0, ties, the clip
// bounds and their neighbours, NaN, ±Inf.
func inputs(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	special := []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.5, 1.5, 2.5, -2.5, 7, 7.5, -8, -8.5, 8,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 1e-40}
	x := make([]float32, n)
	for i := range x {
		if r.IntN(4) == 0 {
			x[i] = special[r.IntN(len(special))]
		} else {
			x[i] = float32(r.NormFloat64() * 5)
		}
	}
	return x
}

// reference element math, written plainly.
func refRound(x float32) float32 { return float32(math.RoundToEven(float64(x))) }
func refClip(u, lo, hi float32) float32 {
	if u != u {
		return u
	}
	return float32(math.Min(math.Max(float64(u), float64(lo)), float64(hi)))
}

func same(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

var lengths = []int{0, 1, 5, 15, 16, 17, 31, 32, 33, 100, 1023, 4099}

func TestQuantClip(t *testing.T) {
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			for off := 0; off < 3; off++ {
				x := inputs(n+off, uint64(n))[off:]
				y := make([]float32, n+1)
				y[n] = 42 // must stay
				for _, c := range []struct{ inv, s, lo, hi float32 }{{2, 0.5, -8, 7}, {1 / 0.3, 0.3, 0, 15}, {1, 1, -1, 1}} {
					QuantClip(y[:n], x, c.inv, c.s, c.lo, c.hi)
					for i, v := range x {
						want := refRound(refClip(v*c.inv, c.lo, c.hi)) * c.s
						if want == 0 {
							want = 0 // the magic rounding gives +0
						}
						if !same(y[i], want) {
							t.Fatalf("asm=%v n=%d x[%d]=%g %+v: got %g want %g", asm, n, i, v, c, y[i], want)
						}
					}
					if y[n] != 42 {
						t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
					}
				}
			}
		}
	})
}

func TestLSQGrad(t *testing.T) {
	for _, n := range lengths {
		x := inputs(n, uint64(n)+7)
		g := inputs(n, uint64(n)+9)
		for i := range g { // finite upstream gradients, so the sums compare
			if g[i] != g[i] || math.IsInf(float64(g[i]), 0) || math.Abs(float64(g[i])) > 1e20 {
				g[i] = 1
			}
			if math.IsInf(float64(x[i]), 0) || x[i] != x[i] || math.Abs(float64(x[i])) > 1e20 {
				x[i] = 3
			}
		}
		for _, inv := range []float32{1 / 0.7, 1} { // 1: x = 7 and −8 fall exactly on the bounds
			checkLSQGrad(t, x, g, inv, -8, 7)
		}
	}
}

func checkLSQGrad(t *testing.T, x, g []float32, inv, lo, hi float32) {
	n := len(x)
	{
		var wantDX []float32
		var wantSum float64
		for i, v := range x {
			u := v * inv
			in := u > lo && u < hi
			d := refRound(refClip(u, lo, hi))
			if in {
				d -= u
				wantDX = append(wantDX, g[i])
			} else {
				wantDX = append(wantDX, 0)
			}
			wantSum += float64(g[i] * d)
		}
		var sums []float64
		withAsm(t, func(t testing.TB, asm bool) {
			dx := make([]float32, n+1)
			dx[n] = 42
			s := LSQGrad(dx[:n], g, x, inv, lo, hi)
			for i := range wantDX {
				if !same(dx[i], wantDX[i]) {
					t.Fatalf("asm=%v n=%d dx[%d] = %g, want %g (x=%g)", asm, n, i, dx[i], wantDX[i], x[i])
				}
			}
			if dx[n] != 42 {
				t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
			}
			if s2 := LSQGrad(nil, g, x, inv, lo, hi); s2 != s {
				t.Fatalf("asm=%v n=%d: sum without dx %g, with %g", asm, n, s2, s)
			}
			if math.Abs(s-wantSum) > 1e-9*(1+math.Abs(wantSum)) {
				t.Fatalf("asm=%v n=%d: sum %g, want %g", asm, n, s, wantSum)
			}
			sums = append(sums, s)
		})
		for _, s := range sums[1:] {
			if math.Float64bits(s) != math.Float64bits(sums[0]) {
				t.Fatalf("n=%d: assembly and Go sums differ: %v", n, sums)
			}
		}
	}
}

func TestSignAndKeep(t *testing.T) {
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			x := inputs(n, uint64(n)+3)
			g := inputs(n, uint64(n)+5)
			y := make([]float32, n+1)
			y[n] = 42
			Sign(y[:n], x)
			for i, v := range x {
				want := float32(-1)
				if v >= 0 {
					want = 1
				}
				if !same(y[i], want) {
					t.Fatalf("asm=%v Sign(%g) = %g, want %g", asm, v, y[i], want)
				}
			}
			KeepAbsLE(y[:n], g, x, 1.5)
			for i, v := range x {
				var want float32
				if math.Abs(float64(v)) <= 1.5 {
					want = g[i]
				}
				if !same(y[i], want) {
					t.Fatalf("asm=%v KeepAbsLE(g=%g, x=%g) = %g, want %g", asm, g[i], v, y[i], want)
				}
			}
			if y[n] != 42 {
				t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
			}
		}
	})
}

func BenchmarkLoops(b *testing.B) {
	const n = 1 << 20
	x, g, y := inputs(n, 1), inputs(n, 2), make([]float32, n)
	for _, asm := range []bool{false, true} {
		if asm && !hasAVX512 {
			continue
		}
		name := "go"
		if asm {
			name = "avx512"
		}
		saved := useAsm
		useAsm = asm
		b.Run("quantclip/"+name, func(b *testing.B) {
			b.SetBytes(8 * n)
			for range b.N {
				QuantClip(y, x, 2, 0.5, -8, 7)
			}
		})
		b.Run("lsqgrad/"+name, func(b *testing.B) {
			b.SetBytes(12 * n)
			for range b.N {
				LSQGrad(y, g, x, 2, -8, 7)
			}
		})
		b.Run("sign/"+name, func(b *testing.B) {
			b.SetBytes(8 * n)
			for range b.N {
				Sign(y, x)
			}
		})
		b.Run("keepabsle/"+name, func(b *testing.B) {
			b.SetBytes(12 * n)
			for range b.N {
				KeepAbsLE(y, g, x, 1)
			}
		})
		useAsm = saved
	}
}
