package vec

import (
	"math"
	"testing"
)

var channelCounts = []int{1, 3, 15, 16, 17, 20, 32, 50, 64, 500}

// same32 compares two slices bit for bit (any NaN equals any NaN).
func same32(t testing.TB, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// bothWays runs f with the assembly off and, where available, on, and
// checks the outputs agree bit for bit.
func bothWays(t *testing.T, name string, f func() []float32) {
	t.Helper()
	saved := useAsm
	defer func() { useAsm = saved }()
	useAsm = false
	want := f()
	if !hasAVX512 {
		return
	}
	useAsm = true
	same32(t, name+" (assembly vs Go)", f(), want)
}

func TestElementwise(t *testing.T) {
	for _, n := range lengths {
		x, g := inputs(n, uint64(n)+11), inputs(n, uint64(n)+13)
		withAsm(t, func(t testing.TB, asm bool) {
			y := make([]float32, n+1)
			y[n] = 42
			ReLU(y[:n], x)
			for i, v := range x {
				want := v
				if math.Signbit(float64(v)) {
					want = 0
				}
				if !same(y[i], want) && !(v != v && !math.Signbit(float64(v))) {
					t.Fatalf("asm=%v ReLU(%g) = %g, want %g", asm, v, y[i], want)
				}
			}
			Clip(y[:n], x, -1, 1)
			for i, v := range x {
				if want := refClip(v, -1, 1); !same(y[i], want) && !(v == 0 && y[i] == 0) {
					t.Fatalf("asm=%v Clip(%g) = %g, want %g", asm, v, y[i], want)
				}
			}
			for _, r := range [][2]float32{{0, float32(math.Inf(1))}, {-1, 1}} {
				KeepInside(y[:n], g, x, r[0], r[1])
				for i, v := range x {
					var want float32
					if v > r[0] && v < r[1] {
						want = g[i]
					}
					if !same(y[i], want) {
						t.Fatalf("asm=%v KeepInside(g=%g, x=%g, %v) = %g, want %g", asm, g[i], v, r, y[i], want)
					}
				}
			}
			if y[n] != 42 {
				t.Fatalf("asm=%v n=%d: wrote past the end", asm, n)
			}
		})
		// Clip keeps −0 and NaN as Go's min/max do.
		bothWays(t, "Clip", func() []float32 {
			y := make([]float32, n)
			Clip(y, x, -1, 1)
			return y
		})
	}
}

func TestChannelLoops(t *testing.T) {
	for _, c := range channelCounts {
		for _, rows := range []int{1, 2, 7} {
			n := rows * c
			x, g := finite(inputs(n, uint64(n)+1)), finite(inputs(n, uint64(n)+2))
			p := func(seed uint64) []float32 { return finite(inputs(c, seed)) }
			a, b, m, s, b1, b2 := p(3), p(4), p(5), p(6), p(7), p(8)
			// Naive references in float64 of the float32 steps.
			y := make([]float32, n+1)
			y[n] = 42
			bothWays(t, "ScaleShift", func() []float32 {
				ScaleShift(y[:n], x, a, b)
				return append([]float32(nil), y[:n]...)
			})
			if y[n] != 42 {
				t.Fatal("ScaleShift wrote past the end")
			}
			for i, v := range x {
				j := i % c
				if want := float32(v*a[j]) + b[j]; !same(y[i], want) {
					t.Fatalf("c=%d ScaleShift[%d] = %g, want %g", c, i, y[i], want)
				}
			}
			bothWays(t, "ChannelSums", func() []float32 {
				d1, d2 := append([]float32(nil), b1...), append([]float32(nil), b2...)
				ChannelSums(d1, d2, x, m)
				return append(d1, d2...)
			})
			d1, d2 := append([]float32(nil), b1...), append([]float32(nil), b2...)
			ChannelSums(d1, d2, x, m)
			for j := range c {
				w1, w2 := b1[j], b2[j]
				for r := range rows {
					u := x[r*c+j] - m[j]
					w1 += u
					w2 += u * u
				}
				if !same(d1[j], w1) || !same(d2[j], w2) {
					t.Fatalf("c=%d rows=%d ChannelSums[%d] = %g, %g, want %g, %g", c, rows, j, d1[j], d2[j], w1, w2)
				}
			}
			bothWays(t, "ChannelGradSums", func() []float32 {
				d1, d2 := append([]float32(nil), b1...), append([]float32(nil), b2...)
				ChannelGradSums(d1, d2, g, x, m, s)
				return append(d1, d2...)
			})
			d1, d2 = append([]float32(nil), b1...), append([]float32(nil), b2...)
			ChannelGradSums(d1, d2, g, x, m, s)
			for j := range c {
				w1, w2 := b1[j], b2[j]
				for r := range rows {
					i := r*c + j
					w1 += g[i]
					w2 += g[i] * (x[i] - m[j]) * s[j]
				}
				if !same(d1[j], w1) || !same(d2[j], w2) {
					t.Fatalf("c=%d rows=%d ChannelGradSums[%d] = %g, %g, want %g, %g", c, rows, j, d1[j], d2[j], w1, w2)
				}
			}
			bothWays(t, "BNBackward", func() []float32 {
				BNBackward(y[:n], g, x, a, b1, b2, m, s)
				return append([]float32(nil), y[:n]...)
			})
			if y[n] != 42 {
				t.Fatal("BNBackward wrote past the end")
			}
			for i, v := range g {
				j := i % c
				if want := a[j] * (v - b1[j] - (x[i]-m[j])*s[j]*b2[j]); !same(y[i], want) {
					t.Fatalf("c=%d BNBackward[%d] = %g, want %g", c, i, y[i], want)
				}
			}
		}
	}
}

// finite replaces the non-finite and huge test inputs by 0.25.
func finite(x []float32) []float32 {
	for i, v := range x {
		if v != v || math.Abs(float64(v)) > 1e6 {
			x[i] = 0.25
		}
	}
	return x
}
