package qfunc

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRound(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {0.49999997, 0},
		{1 << 22, 1 << 22}, {1<<23 + 1, 1<<23 + 1}, {-3.5, -4}, {1e30, 1e30},
	}
	for _, c := range cases {
		if got := Round(c.in); got != c.want {
			t.Errorf("Round(%g) = %g, want %g", c.in, got, c.want)
		}
	}
	if z := Round(float32(math.Copysign(0, -1))); math.Signbit(float64(z)) {
		t.Errorf("Round(−0) = −0, want +0")
	}
}

func TestDesc(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name      string
		d         Desc
		x, want   float32
		code, max int
	}{
		{"identity", Desc{}, 0.3, 0.3, 0, 0},
		{"sign +", Desc{Kind: SignKind}, 0, 1, 0, 1},
		{"sign NaN", Desc{Kind: SignKind}, nan, -1, 0, 1},
		{"levels mid", Levels(3), 0.5, 2.0 / 3, 2, 3},
		{"levels above", Levels(3), 7, 1, 3, 3},
		{"levels below", Levels(3), -7, 0, 0, 3},
		{"step signed", Step(0.5, -8, 7), -0.74, -0.5, 7, 15},
		{"step clipped", Step(0.5, -8, 7), 100, 3.5, 15, 15},
		{"clipped", Clipped(2, 4), 1.2, 1, 2, 4},
		{"clipped above", Clipped(2, 4), 9, 2, 4, 4},
	}
	for _, c := range cases {
		if err := c.d.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := c.d.Value(c.x)
		y := []float32{0}
		c.d.Apply(y, []float32{c.x})
		if got != c.want || y[0] != got {
			t.Errorf("%s: Value(%g) = %g, Apply %g, want %g", c.name, c.x, got, y[0], c.want)
		}
		if c.d.MaxCode() != c.max {
			t.Errorf("%s: MaxCode %d, want %d", c.name, c.d.MaxCode(), c.max)
		}
		if !c.d.HasCodes() {
			continue
		}
		codes := []uint8{0}
		c.d.Codes(codes, []float32{c.x})
		if int(codes[0]) != c.code {
			t.Errorf("%s: code %d, want %d", c.name, codes[0], c.code)
		}
		if v := float32(c.d.Scale() * float64(int(codes[0])-c.d.Offset())); math.Abs(float64(v-got)) > 1e-6 {
			t.Errorf("%s: Scale·(code − Offset) = %g, want %g", c.name, v, got)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Desc{
		{Kind: "uniform"},
		{Kind: Linear, Mul: 1, Lo: 0, Hi: 0, Num: 1, Den: 1},
		{Kind: Linear, Mul: 1, Lo: 1, Hi: 3, Num: 1, Den: 1},
		{Kind: Linear, Mul: 1, Lo: 0, Hi: 2.5, Num: 1, Den: 1},
		{Kind: Linear, Mul: 0, Lo: 0, Hi: 3, Num: 1, Den: 1},
		{Kind: Linear, Mul: 1, Lo: 0, Hi: 3, Num: float32(math.Inf(1)), Den: 1},
		{Kind: Linear, Mul: 1, Lo: 0, Hi: 1<<16 + 1, Num: 1, Den: 1},
	}
	for _, d := range bad {
		if d.Validate() == nil {
			t.Errorf("%+v: no error", d)
		}
	}
}

// The training forward passes of DoReFa's inputs and of PACT clipped before
// scaling; Levels and Clipped scale first (the op order of every Linear Desc).
// Both orders give the same float32 bits on every input tried.
func TestOpOrderMatchesClipFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-30, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1))}
	for range 200000 {
		xs = append(xs, float32(rng.NormFloat64()*3), math.Float32frombits(rng.Uint32()))
	}
	for _, l := range []int{1, 3, 15, 255, 65535} {
		lf := float32(l)
		for _, a := range []float32{0.37, 1, 2.5, 10, 1234.5} {
			scale, step := lf/a, a/lf
			d := Clipped(a, l)
			for _, x := range xs {
				want := Round(Clip(x, 0, a)*scale) * step
				if got := d.Value(x); math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Fatalf("Clipped(%g, %d) at %g: %g, clip-first %g", a, l, x, got, want)
				}
			}
		}
		d := Levels(l)
		for _, x := range xs {
			want := Round(lf*Clip(x, 0, 1)) / lf
			if got := d.Value(x); math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
				t.Fatalf("Levels(%d) at %g: %g, clip-first %g", l, x, got, want)
			}
		}
	}
}
