package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"errors"
	"math"
	"strings"
	"testing"
)

type scaledCase struct {
	name  string
	spec  string
	role  ste.Role
	rows  int
	x     []float32
	p     [][]float32 // learned steps (nil: none)
	wantQ []float32
	wantG []float32 // gradient w.r.t. x for g = 1
}

// Steps of TestScaled's meanabs and mse rows.
var (
	sMean = float32(2 * 2.08 / math.Sqrt(3)) // 2·mean|x|/√Q_P with mean|x| = 10.4/5
	sMSE  = float32(3.16) / 3                // clip 4·79/100 (worked out below)
)

func TestScaled(t *testing.T) {
	cases := []scaledCase{{
		// s = max|x|/Q_P = 3/3; signed 3 bits: [−4, 3].
		name: "max signed", spec: "scaled(bits=3)", role: ste.Weights, rows: 1,
		x:     []float32{-3, -1, 0.4, 1.6, 3},
		wantQ: []float32{-3, -1, 0, 2, 3},
		wantG: []float32{1, 1, 1, 1, 1},
	}, {
		// unsigned 2 bits on inputs: s = 1.5/3; negatives clip to 0 and get no gradient.
		name: "max unsigned", spec: "scaled(bits=2,method=max)", role: ste.Inputs, rows: 1,
		x:     []float32{-1, 0.5, 1.5},
		wantQ: []float32{0, 0.5, 1.5},
		wantG: []float32{0, 1, 1},
	}, {
		// per row: s = 1 and s = 2 (max 3 and 6 over Q_P = 3).
		name: "max perchannel", spec: "scaled(bits=3,perchannel)", role: ste.Weights, rows: 2,
		x:     []float32{3, -1.4, 0.4, 6, -1, 3.2},
		wantQ: []float32{3, -1, 0, 6, -0, 4},
		wantG: []float32{1, 1, 1, 1, 1, 1},
	}, {
		// s = 2·2.08/√3 = 2.4018, clip c = 3s = 7.205: 10 is clipped (no gradient), 0.1 rounds to 0.
		name: "meanabs", spec: "scaled(bits=3,method=meanabs)", role: ste.Weights, rows: 1,
		x:     []float32{0.1, 0.1, 0.1, 0.1, 10},
		wantQ: []float32{0, 0, 0, 0, 3 * sMean},
		wantG: []float32{1, 1, 1, 1, 0},
	}, {
		// signed 2 bits (Q_P = 1): every clip c < 100 costs ≥ (100−c)² on the outlier, while
		// c = 100 costs 9·1² (the ones round to 0), so s = 100.
		name: "mse no clip", spec: "scaled(bits=2,method=mse)", role: ste.Weights, rows: 1,
		x:     []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 100},
		wantQ: []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 100},
		wantG: []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}, {
		// signed 3 bits (Q_P = 3), x = three each of 1, 2, 3 and one 4. For c in (3, 3.6]:
		// q = s, 2s, 3s, 3s with s = c/3, so err(c) = (14/3)(c−3)² + (4−c)², minimal at
		// c = 108/34 ≈ 3.176. Of the candidates 4j/100: err(3.16) = 0.8251 < err(3.2) = 0.8267,
		// so c = 3.16 and the 4 is clipped.
		name: "mse clip", spec: "scaled(bits=3,method=mse)", role: ste.Weights, rows: 1,
		x:     []float32{1, 1, 1, 2, 2, 2, 3, 3, 3, 4},
		wantQ: []float32{sMSE, sMSE, sMSE, 2 * sMSE, 2 * sMSE, 2 * sMSE, 3 * sMSE, 3 * sMSE, 3 * sMSE, 3 * sMSE},
		wantG: []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
	}, {
		// |x| sorted = 0..10; the 90th percentile is the order statistic at 0.9·10 = 9: s = 3.
		name: "percentile", spec: "scaled(bits=3,method=percentile,pct=90)", role: ste.Weights, rows: 1,
		x:     []float32{0, -1, 2, -3, 4, 5, 6, 7, 8, 9, 10},
		wantQ: []float32{0, 0, 3, -3, 3, 6, 6, 6, 9, 9, 9},
		wantG: []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
	}, {
		// position 0.625·4 = 2.5 interpolates between 3 and 4: c = 3.5, s = 3.5/3.
		name: "percentile interpolated", spec: "scaled(bits=3,method=percentile,pct=62.5)", role: ste.Weights, rows: 1,
		x:     []float32{1, 2, 3, 4, 5},
		wantQ: []float32{3.5 / 3, 7.0 / 3, 3.5, 3.5, 3.5},
		wantG: []float32{1, 1, 1, 0, 0},
	}, {
		// s = 0.5: x/s = −6, −1.2, 0.4, 1.6, 2.8, 4 → clip to [−4, 3] and round.
		// The gradient is LSQ's: zero where x/s is at or beyond the clip.
		name: "learned", spec: "scaled(bits=3,method=learned)", role: ste.Weights, rows: 1,
		x:     []float32{-3, -0.6, 0.2, 0.8, 1.4, 2},
		p:     [][]float32{{0.5}},
		wantQ: []float32{-2, -0.5, 0, 1, 1.5, 1.5},
		wantG: []float32{0, 1, 1, 1, 1, 0},
	}, {
		// steps 0.5 and 1 per output row.
		name: "learned perchannel", spec: "scaled(bits=3,method=learned,perchannel)", role: ste.Weights, rows: 2,
		x:     []float32{0.2, 0.8, 5, -5, 1.4, 2.6},
		p:     [][]float32{{0.5, 1}},
		wantQ: []float32{0, 1, 1.5, -4, 1, 3},
		wantG: []float32{1, 1, 0, 0, 1, 1},
	}, {
		// a zero row of inputs (a dead sample) quantizes to zero; a gradient passes only at x = 0.
		name: "zero row", spec: "scaled(bits=2,perchannel)", role: ste.Inputs, rows: 2,
		x:     []float32{0, 0, 3, 1},
		wantQ: []float32{0, 0, 3, 1},
		wantG: []float32{1, 1, 1, 1},
	}}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func (c scaledCase) run(t *testing.T) {
	tg := ste.Target{Shape: []int{c.rows, len(c.x) / c.rows}, Role: c.role}
	if c.role == ste.Weights {
		tg.Init = c.x
	}
	q, f := qtBuild(t, c.spec, tg)
	qtRoundTrip(t, q)
	if len(f.Params()) != len(c.p) {
		t.Fatalf("%d params, want %d", len(f.Params()), len(c.p))
	}
	y := qtForward(t, f, c.x, c.p, c.rows)
	qtClose(t, "q", y, c.wantQ, 1e-5)
	ones := make([]float32, len(c.x))
	for i := range ones {
		ones[i] = 1
	}
	qtClose(t, "dx", qtGrad(t, f, 0, len(c.x), ones, c.x, c.p, c.rows), c.wantG, 0)
	levels := map[float32]bool{}
	for _, v := range y {
		levels[v] = true
	}
	if len(levels) > c.rows<<q.BitsFor(ste.Inputs) {
		t.Fatalf("%d levels", len(levels))
	}
}

func TestScaledLearnedStep(t *testing.T) {
	t.Run("per layer", func(t *testing.T) {
		// Per element: −Q_N = −4 at x/s = −6; round(u)−u = 0.2, −0.4, 0.4, 0.2 inside; Q_P = 3 at 4.
		// Sum −0.6, times 1/√(N·Q_P) = 1/√18.
		x := []float32{-3, -0.6, 0.2, 0.8, 1.4, 2}
		_, f := qtBuild(t, "scaled(bits=3,method=learned)", ste.Target{Shape: []int{2, 3}, Role: ste.Weights, Init: x})
		init := f.Params()[0]
		if init.Name != "step" {
			t.Fatalf("param %q", init.Name)
		}
		qtClose(t, "init", init.Data, []float32{float32(2 * (8.0 / 6) / math.Sqrt(3))}, 1e-6)
		g := []float32{1, 1, 1, 1, 1, 1}
		ds := qtGrad(t, f, 1, 1, g, x, [][]float32{{0.5}}, 2)
		qtClose(t, "ds", ds, []float32{float32(-0.6 / math.Sqrt(18))}, 1e-6)
	})
	t.Run("per channel", func(t *testing.T) {
		// row 0 (s = 0.5): −0.4 + 0.4 + 3 = 3; row 1 (s = 1): −4 − 0.4 + 0.4 = −4; both × 1/√(3·3).
		x := []float32{0.2, 0.8, 5, -5, 1.4, 2.6}
		_, f := qtBuild(t, "scaled(bits=3,method=learned,perchannel)", ste.Target{Shape: []int{2, 3}, Role: ste.Weights, Init: x})
		r3 := math.Sqrt(3)
		qtClose(t, "init", f.Params()[0].Data, []float32{float32(2 * 2 / r3), float32(2 * 3 / r3)}, 1e-6)
		g := []float32{1, 1, 1, 1, 1, 1}
		ds := qtGrad(t, f, 1, 2, g, x, [][]float32{{0.5, 1}}, 2)
		qtClose(t, "ds", ds, []float32{1, -4.0 / 3}, 1e-6)
	})
	t.Run("central difference clipped", func(t *testing.T) {
		// Beyond the clip q = Q_P·s or −Q_N·s, linear in s: ∂(Σ g·q)/∂s = Σ g·(±clip)
		// exactly, and the step gradient is that times 1/√(N·Q_P) = 1/3.
		x := []float32{10, -10, 20}
		g := []float32{0.5, 2, -1}
		_, f := qtBuild(t, "scaled(bits=3,method=learned)", ste.Target{Shape: []int{1, 3}, Role: ste.Weights, Init: x})
		const s, h = 1, 1e-2
		num := (qtLoss(t, f, g, x, [][]float32{{s + h}}, 1) - qtLoss(t, f, g, x, [][]float32{{s - h}}, 1)) / (2 * h)
		ds := qtGrad(t, f, 1, 1, g, x, [][]float32{{s}}, 1)
		qtClose(t, "ds", ds, []float32{float32(num) / 3}, 1e-5)
		qtClose(t, "ds", ds, []float32{(1.5 - 8 - 3) / 3}, 1e-5)
	})
	t.Run("lazy init inputs", func(t *testing.T) {
		// Inputs start with step 0 and take 2·mean|x|/√Q_P (unsigned 2 bits: Q_P = 3) from the first batch.
		_, f := qtBuild(t, "scaled(bits=2,method=learned)", ste.Target{Shape: []int{1, 2}, Role: ste.Inputs})
		p := initialParams(f)
		qtForward(t, f, []float32{1, 2, 3, 6}, p, 2)
		qtClose(t, "step", p[0], []float32{float32(2 * 3 / math.Sqrt(3))}, 1e-6)
	})
}

func TestScaledIdempotent(t *testing.T) {
	x := []float32{-2.3, 0.7, 1.1, -0.05, 3.3, 0.2, -1.9, 2.8}
	for _, spec := range []string{"scaled(bits=3)", "scaled(bits=4,perchannel)", "scaled(bits=2,method=learned)"} {
		t.Run(spec, func(t *testing.T) {
			_, f := qtBuild(t, spec, ste.Target{Shape: []int{2, 4}, Role: ste.Weights, Init: x})
			p := initialParams(f)
			y := qtForward(t, f, x, p, 2)
			qtClose(t, "q(q)", qtForward(t, f, y, p, 2), y, 1e-6)
		})
	}
}

func TestScaledSpec(t *testing.T) {
	cases := []struct {
		spec string
		want ste.Scaled
		str  string
	}{
		{"scaled", ste.Scaled{Bits: 4}, "scaled(bits=4,method=max)"},
		{"scaled(bits=8,method=meanabs,signed)", ste.Scaled{Bits: 8, Method: ste.ScaleMeanAbs, Signed: true}, "scaled(bits=8,method=meanabs,signed)"},
		{"scaled(method=mse,perchannel)", ste.Scaled{Bits: 4, Method: ste.ScaleMSE, PerChannel: true}, "scaled(bits=4,method=mse,perchannel)"},
		{"scaled(method=percentile)", ste.Scaled{Bits: 4, Method: ste.ScalePercentile, Percentile: 99.99}, "scaled(bits=4,method=percentile,pct=99.99)"},
		{"scaled(method=percentile,pct=99.9)", ste.Scaled{Bits: 4, Method: ste.ScalePercentile, Percentile: 99.9}, "scaled(bits=4,method=percentile,pct=99.9)"},
		{"scaled:method=learned,bits=2", ste.Scaled{Bits: 2, Method: ste.ScaleLearned}, "scaled(bits=2,method=learned)"},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			q, err := ste.Parse(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if q != c.want || q.String() != c.str || q.Name() != "scaled" || q.BitsFor(ste.Weights) != c.want.Bits {
				t.Fatalf("Parse = %#v %q, want %#v %q", q, q.String(), c.want, c.str)
			}
			qtRoundTrip(t, q)
		})
	}
	if got := (ste.Scaled{Method: ste.ScalePercentile}).String(); got != "scaled(bits=4,method=percentile,pct=99.99)" {
		t.Errorf("zero Percentile: %q", got)
	}
}

func TestScaledErrors(t *testing.T) {
	w := ste.Target{Shape: []int{2, 2}, Role: ste.Weights}
	_, fmax := qtBuild(t, "scaled", w)
	_, fpc := qtBuild(t, "scaled(perchannel)", w)
	_, fl := qtBuild(t, "scaled(method=learned)", w)
	_, fin := qtBuild(t, "scaled", ste.Target{Shape: []int{1, 4}, Role: ste.Inputs})
	x := []float32{1, -2, 3, 0.5}
	y := make([]float32, 4)
	ctx := ste.Ctx{Rows: 2}
	build := func(s ste.Scaled, tg ste.Target) error { _, err := s.Build(tg); return err }
	parse := func(spec string) error { _, err := ste.Parse(spec); return err }
	cases := []struct {
		name string
		err  error
	}{
		{"all zero weights", fmax.Forward(y, []float32{0, 0, 0, 0}, nil, ctx)},
		{"length", fmax.Forward(y[:3], x, nil, ctx)},
		{"rows", fpc.Forward(y[:3], x[:3], nil, ctx)},
		{"unexpected params", fmax.Forward(y, x, [][]float32{{1}}, ctx)},
		{"grad length", fmax.Grad(0, y[:3], x, x, y, nil, ctx)},
		{"wrt", fmax.Grad(1, y, x, x, y, nil, ctx)},
		{"step negative", fl.Forward(y, x, [][]float32{{-1}}, ctx)},
		{"step inf", fl.Grad(1, y[:1], x, x, y, [][]float32{{float32(math.Inf(1))}}, ctx)},
		{"step missing", fl.Forward(y, x, nil, ctx)},
		{"step grad length", fl.Grad(1, y, x, x, y, [][]float32{{1}}, ctx)},
		{"learned wrt", fl.Grad(2, y[:1], x, x, y, [][]float32{{1}}, ctx)},
		{"build learned perchannel inputs", build(ste.Scaled{Method: ste.ScaleLearned, PerChannel: true}, ste.Target{Shape: []int{1, 4}, Role: ste.Inputs})},
		{"build signed 1 bit", build(ste.Scaled{Bits: 1}, w)},
		{"build method", build(ste.Scaled{Method: 99}, w)},
		{"build pct", build(ste.Scaled{Method: ste.ScalePercentile, Percentile: 120}, w)},
		{"parse method", parse("scaled(method=minmax)")},
		{"parse pct without percentile", parse("scaled(pct=99)")},
		{"parse pct zero", parse("scaled(method=percentile,pct=0)")},
		{"parse bits", parse("scaled(bits=1,signed)")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(c.err.Error(), "scaled") {
				t.Fatalf("error %q does not name scaled", c.err)
			}
		})
	}
	if err := fmax.Forward(y, []float32{0, 0, 0, 0}, nil, ctx); !errors.Is(err, ste.ErrParam) {
		t.Errorf("all-zero weights: %v, want ErrParam", err)
	}
	if err := fin.Forward(y, []float32{0, 0, 0, 0}, nil, ste.Ctx{Rows: 1}); err != nil {
		t.Errorf("all-zero inputs: %v", err)
	}
}

func TestScaledClip(t *testing.T) {
	x := []float32{0.5, -3, 1, 2}
	for _, tc := range []struct {
		name    string
		q       ste.Scaled
		want    float32
		wantErr bool
	}{
		{"max", ste.Scaled{Bits: 4, Method: ste.ScaleMax}, 3, false},
		{"meanabs", ste.Scaled{Bits: 2, Method: ste.ScaleMeanAbs}, 3.25, false}, // Q_P·2·mean|x|/√Q_P, Q_P = 1, mean|x| = 1.625
		{"percentile", ste.Scaled{Bits: 4, Method: ste.ScalePercentile, Percentile: 50}, 1.5, false},
		{"learned", ste.Scaled{Bits: 4, Method: ste.ScaleLearned}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.q.Clip(x, ste.Weights)
			if (err != nil) != tc.wantErr || (!tc.wantErr && math.Abs(float64(got-tc.want)) > 1e-6) {
				t.Errorf("Clip = %g, %v; want %g (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := (ste.Scaled{Bits: 4}).Clip(nil, ste.Inputs); err == nil {
		t.Error("empty tensor accepted")
	}
}
