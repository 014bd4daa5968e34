package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestQuantLinear(t *testing.T) {
	cases := []struct{ mul, lo, hi, num, den float32 }{
		{3, 0, 3, 1, 3},             // DoReFa quantize_2
		{15, 0, 15, 1, 15},          // quantize_4
		{3 / 0.7, 0, 3, 0.7 / 3, 1}, // PACT, α = 0.7
		{2, -8, 7, 0.5, 1},
	}
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			x := inputs(n, uint64(n)+11)
			y := make([]float32, n+1)
			for _, c := range cases {
				y[n] = 42
				QuantLinear(y[:n], x, c.mul, c.lo, c.hi, c.num, c.den)
				for i, v := range x {
					code := refRound(refClip(v*c.mul, c.lo, c.hi))
					if code == 0 {
						code = 0 // the magic rounding gives +0
					}
					want := code * c.num / c.den
					if !same(y[i], want) {
						t.Fatalf("asm=%v n=%d x[%d]=%g %+v: got %g want %g", asm, n, i, v, c, y[i], want)
					}
				}
				if y[n] != 42 {
					t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
				}
			}
		}
	})
}

func TestPACTGrad(t *testing.T) {
	for _, n := range lengths {
		x := inputs(n, uint64(n)+13)
		g := inputs(n, uint64(n)+17)
		for i := range g { // finite upstream gradients, so the sums compare
			if g[i] != g[i] || math.IsInf(float64(g[i]), 0) || math.Abs(float64(g[i])) > 1e20 {
				g[i] = 1
			}
		}
		for _, a := range []float32{7, 0.5, 1e30} { // 7 and 0.5 are among the inputs: x = a exactly
			var wantSum float64
			wantDX := make([]float32, n)
			for i, v := range x {
				if v >= a {
					wantSum += float64(g[i])
				}
				if v >= 0 && v < a {
					wantDX[i] = g[i]
				}
			}
			var sums []float64
			withAsm(t, func(t testing.TB, asm bool) {
				dx := make([]float32, n+1)
				dx[n] = 42
				s := PACTGrad(dx[:n], g, x, a)
				for i := range wantDX {
					if !same(dx[i], wantDX[i]) {
						t.Fatalf("asm=%v n=%d a=%g dx[%d] = %g, want %g (x=%g)", asm, n, a, i, dx[i], wantDX[i], x[i])
					}
				}
				if dx[n] != 42 {
					t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
				}
				if s2 := PACTGrad(nil, g, x, a); s2 != s {
					t.Fatalf("asm=%v n=%d: sum without dx %g, with %g", asm, n, s2, s)
				}
				if math.Abs(s-wantSum) > 1e-9*(1+math.Abs(wantSum)) {
					t.Fatalf("asm=%v n=%d a=%g: sum %g, want %g", asm, n, a, s, wantSum)
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
}

// TestNoisyLevels compares with the scalar code DoReFa's gradient quantizer used
// before the loop moved here, for finite and special gradients.
func TestNoisyLevels(t *testing.T) {
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			g := inputs(n, uint64(n)+19)
			u := make([]float32, n)
			for i := range u {
				u[i] = float32(uint32(i*2654435761)>>8) * 0x1p-24
			}
			for _, c := range []struct{ m, l float32 }{{9.5, 63}, {1e-3, 3}, {40, 1}} {
				out := make([]float32, n+1)
				out[n] = 42
				inv := 1 / (2 * c.m)
				NoisyLevels(out[:n], g, u, inv, c.l, 2*c.m)
				for i, v := range g {
					r := float32(float32(v*inv)+0.5) + (u[i]-0.5)/c.l
					if r == r {
						r = float32(math.Min(math.Max(float64(r), 0), 1))
					}
					want := 2 * c.m * (refRound(c.l*r)/c.l - 0.5)
					if !same(out[i], want) {
						t.Fatalf("asm=%v n=%d g[%d]=%g u=%g %+v: got %g want %g", asm, n, i, v, u[i], c, out[i], want)
					}
				}
				if out[n] != 42 {
					t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
				}
			}
		}
	})
}

// TestTanhLoops compares DoReFa's weight loops with the scalar code they replaced.
func TestTanhLoops(t *testing.T) {
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			x := inputs(n, uint64(n)+23)
			u := make([]float32, n)
			var m float32
			for i, v := range x {
				u[i] = float32(math.Tanh(float64(v)))
				if a := float32(math.Abs(float64(u[i]))); a > m {
					m = a
				}
			}
			g := inputs(n, uint64(n)+29)
			y := make([]float32, n+1)
			for _, l := range []float32{1, 3, 15, 255} {
				y[n] = 42
				TanhLevels(y[:n], u, 2*m, l)
				for i, v := range u {
					r := v/(2*m) + 0.5
					want := 2*(refRound(l*r)/l) - 1
					if !same(y[i], want) {
						t.Fatalf("asm=%v n=%d u[%d]=%g l=%g: got %g want %g", asm, n, i, v, l, y[i], want)
					}
				}
				if y[n] != 42 {
					t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
				}
			}
			TanhGrad(y[:n], g, u, m)
			for i, v := range u {
				uu := v * v
				want := g[i] * (1 - uu) / m
				if !same(y[i], want) {
					t.Fatalf("asm=%v n=%d u[%d]=%g g=%g: got %g want %g", asm, n, i, v, g[i], y[i], want)
				}
			}
		}
	})
}

// TestTanhRational: the assembly and Go loops give math.Tanh's rational
// formula with every float64 operation rounded (refTanhRational), bit for bit,
// on small weights and on the edge cases (whose lanes callers recompute).
func TestTanhRational(t *testing.T) {
	withAsm(t, func(t testing.TB, asm bool) {
		for _, n := range lengths {
			w := inputs(n, uint64(n)+31)
			r := rand.New(rand.NewPCG(uint64(n), 37))
			for i := range w {
				if i%3 != 0 {
					w[i] = float32((r.Float64()*2 - 1) * 0.7)
				}
			}
			u := make([]float32, n+1)
			u[n] = 42
			TanhRational(u[:n], w)
			for i, v := range w {
				if want := float32(refTanhRational(float64(v))); !same(u[i], want) {
					t.Fatalf("asm=%v n=%d w[%d]=%g: got %g want %g", asm, n, i, v, u[i], want)
				}
			}
			if u[n] != 42 {
				t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
			}
		}
	})
}

// refTanhRational is math.Tanh's formula for 0 < |x| < 0.625 (math/tanh.go),
// each operation rounded (the conversions forbid fused multiply-adds).
func refTanhRational(x float64) float64 {
	s := float64(x * x)
	num := float64(float64(x*s) * float64(float64(float64(float64(tanhP0*s)+tanhP1)*s)+tanhP2))
	den := float64(float64(float64(float64(s+tanhQ0)*s)+tanhQ1)*s) + tanhQ2
	return x + float64(num/den)
}
