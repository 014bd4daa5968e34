package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"math"
	"strings"
	"testing"
)

func TestDoReFaGrad(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		str   string
		bits  int
		rows  int
		dr    []float32
		want  []float32 // nil: only check the levels
		check bool      // check the levels of every row
	}{{
		// Values on the grid come back exactly: with G = 2 (3 steps), r = dr/(2m)+½ is 1, 0,
		// 2/3, 1/3 and the noise (under half a step) cannot move them to another level.
		// The zero row stays zero.
		name: "on grid", spec: "dorefagrad(bits=2)", str: "dorefagrad(bits=2,seed=0)", bits: 2, rows: 3,
		dr:   []float32{3, -3, 1, -1, 0, 0, 0, 0, 0.5, 1.5, -0.5, -1.5},
		want: []float32{3, -3, 1, -1, 0, 0, 0, 0, 0.5, 1.5, -0.5, -1.5},
	}, {
		name: "default bits", spec: "dorefagrad(seed=7)", str: "dorefagrad(bits=6,seed=7)", bits: 6, rows: 2,
		dr:    []float32{0.3, -0.01, 0.02, 0.7, 1e-3, -5, 2, 0.25},
		check: true,
	}, {
		name: "4 bits", spec: "dorefagrad(bits=4,seed=123)", str: "dorefagrad(bits=4,seed=123)", bits: 4, rows: 4,
		dr:    []float32{0.1, 0.2, -0.3, 0.4, 1, 0.11, 0.12, 0.13, -2, 2, 0.5, -0.25, 0.001, -0.002, 0.003, 0.0005},
		check: true,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, f := qtBuild(t, c.spec, ste.Target{Shape: []int{c.rows, len(c.dr) / c.rows}, Role: ste.Inputs})
			if q.String() != c.str || q.Name() != "dorefagrad" || q.(ste.DoReFaGrad).Bits != c.bits || ste.BitsFor(q, ste.Weights) != 32 {
				t.Fatalf("Parse(%q) = %q, bits %d", c.spec, q.String(), q.(ste.DoReFaGrad).Bits)
			}
			qtRoundTrip(t, q)
			if id, ok := q.(interface{ Identity() bool }); !ok || !id.Identity() {
				t.Fatal("quantizer does not report Identity")
			}
			if id, ok := f.(interface{ Identity() bool }); !ok || !id.Identity() {
				t.Fatal("func does not report Identity")
			}
			// Forward: the identity.
			x := []float32{1.5, -2, 0.3, 7}
			qtClose(t, "forward", qtForward(t, f, x, nil, 1), x, 0)
			gq := qtGrad(t, f, 0, len(c.dr), c.dr, c.dr, nil, c.rows)
			if c.want != nil {
				qtClose(t, "g_q", gq, c.want, 1e-6)
			}
			if c.check {
				dorefaGradLevels(t, c.bits, c.rows, c.dr, gq)
			}
		})
	}
}

// dorefaGradLevels checks that each row of g_q lies on the 2^G-level grid of its own max|dr|:
// (g_q/(2m) + ½)·(2^G−1) is an integer in [0, 2^G−1].
func dorefaGradLevels(t *testing.T, bits, rows int, dr, gq []float32) {
	t.Helper()
	l := float64(int(1)<<bits - 1)
	n := len(dr) / rows
	for r := range rows {
		m := float64(qtMaxAbs(dr[r*n : (r+1)*n]))
		levels := map[int]bool{}
		for i := r * n; i < (r+1)*n; i++ {
			k := (float64(gq[i])/(2*m) + 0.5) * l
			if math.Abs(k-math.Round(k)) > 1e-3 || k < -1e-3 || k > l+1e-3 {
				t.Fatalf("row %d: g_q = %g is off the grid (level %g of %g)", r, gq[i], k, l)
			}
			levels[int(math.Round(k))] = true
		}
		if len(levels) > 1<<bits {
			t.Fatalf("row %d: %d levels", r, len(levels))
		}
	}
}

func TestDoReFaGradUnbiased(t *testing.T) {
	// E[g_q] = dr: the noise makes the rounding stochastic. With G = 2 the spread is wide
	// (std ≤ m/3 per draw); over 4000 seeds the mean is within 0.02 of dr (≈ 4 std errors).
	dr := []float32{1, 0.3, -0.7, 0.05, -0.45, 0.9}
	sum := make([]float64, len(dr))
	const seeds = 4000
	for s := range uint64(seeds) {
		f, err := ste.DoReFaGrad{Bits: 2, Seed: s}.Build(ste.Target{Shape: []int{1, len(dr)}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		gq := qtGrad(t, f, 0, len(dr), dr, dr, nil, 1)
		dorefaGradLevels(t, 2, 1, dr, gq)
		for i, v := range gq {
			sum[i] += float64(v)
		}
	}
	for i := range sum {
		sum[i] /= seeds
	}
	qtClose(t, "mean g_q", toF32(sum), dr, 0.02)
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func TestDoReFaGradState(t *testing.T) {
	// 64 values off the grid, so that different noise shows in the result.
	dr := make([]float32, 64)
	for i := range dr {
		dr[i] = float32(math.Sin(1.7 * float64(i)))
	}
	build := func(seed uint64) ste.Func {
		f, err := ste.DoReFaGrad{Bits: 3, Seed: seed}.Build(ste.Target{Shape: []int{2, 32}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	type stater interface {
		State() uint64
		SetState(uint64)
	}
	run := func(f ste.Func) []float32 { return qtGrad(t, f, 0, len(dr), dr, dr, nil, 2) }

	a := build(42)
	var seq [][]float32
	for i := range 5 {
		if got := a.(stater).State(); got != uint64(i) {
			t.Fatalf("State before call %d = %d", i, got)
		}
		seq = append(seq, run(a))
	}
	t.Run("same seed same sequence", func(t *testing.T) {
		b := build(42)
		for i := range seq {
			qtClose(t, "call", run(b), seq[i], 0)
		}
	})
	t.Run("resume", func(t *testing.T) {
		b := build(42)
		b.(stater).SetState(3)
		qtClose(t, "call 3", run(b), seq[3], 0)
		qtClose(t, "call 4", run(b), seq[4], 0)
	})
	t.Run("calls differ", func(t *testing.T) {
		if equalF32(seq[0], seq[1]) {
			t.Fatal("calls 0 and 1 drew the same noise")
		}
	})
	t.Run("seeds differ", func(t *testing.T) {
		if equalF32(run(build(43)), seq[0]) {
			t.Fatal("seeds 42 and 43 drew the same noise")
		}
	})
}

func equalF32(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestDoReFaGradErrors(t *testing.T) {
	f, err := ste.DoReFaGrad{}.Build(ste.Target{Shape: []int{2, 2}, Role: ste.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3, 4}
	y := make([]float32, 4)
	cases := []struct {
		name string
		err  error
	}{
		{"length", f.Forward(y[:3], x, nil, ste.Ctx{Rows: 2})},
		{"grad length", f.Grad(0, y[:3], x, x, y, nil, ste.Ctx{Rows: 2})},
		{"rows", f.Grad(0, y, x, x, y, nil, ste.Ctx{Rows: 3})},
		{"wrt", f.Grad(1, y, x, x, y, nil, ste.Ctx{Rows: 2})},
		{"build bits", func() error { _, err := (ste.DoReFaGrad{Bits: 17}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"parse seed", func() error { _, err := ste.Parse("dorefagrad(seed=-1)"); return err }()},
		{"parse bits", func() error { _, err := ste.Parse("dorefagrad(bits=0)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(c.err.Error(), "dorefagrad") {
				t.Fatalf("error %q does not name dorefagrad", c.err)
			}
		})
	}
	if got := f.(interface{ State() uint64 }).State(); got != 0 {
		t.Errorf("failed calls advanced the counter to %d", got)
	}
}

// TestDoReFaGradShards checks that a batch split across data-parallel ranks
// (Ctx.Row0) draws the noise one process draws for the whole batch.
func TestDoReFaGradShards(t *testing.T) {
	const rows, n = 6, 16
	dr := make([]float32, rows*n)
	for i := range dr {
		dr[i] = float32(math.Sin(0.9 * float64(i)))
	}
	build := func() ste.Func {
		f, err := ste.DoReFaGrad{Bits: 3, Seed: 7}.Build(ste.Target{Shape: []int{1, n}, Role: ste.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	whole := make([]float32, len(dr))
	if err := build().Grad(0, whole, dr, dr, dr, nil, ste.Ctx{Rows: rows}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		splits []int // first row of each shard
	}{{"2 ranks", []int{0, 3}}, {"3 ranks", []int{0, 2, 4}}, {"6 ranks", []int{0, 1, 2, 3, 4, 5}}} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float32, len(dr))
			for i, lo := range tc.splits {
				hi := rows
				if i+1 < len(tc.splits) {
					hi = tc.splits[i+1]
				}
				c := ste.Ctx{Rows: hi - lo, Row0: lo}
				if err := build().Grad(0, got[lo*n:hi*n], dr[lo*n:hi*n], dr[lo*n:hi*n], dr[lo*n:hi*n], nil, c); err != nil {
					t.Fatal(err)
				}
			}
			qtClose(t, "sharded", got, whole, 0)
		})
	}
	shifted := make([]float32, len(dr))
	if err := build().Grad(0, shifted, dr, dr, dr, nil, ste.Ctx{Rows: rows, Row0: 1}); err != nil {
		t.Fatal(err)
	}
	if equalF32(shifted, whole) {
		t.Fatal("Row0 1 drew the noise of Row0 0")
	}
}
