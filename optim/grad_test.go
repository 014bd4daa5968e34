package optim

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name     string
		grads    [][]float32
		max      float32
		norm     float32
		want     [][]float32
		tolScale float64
	}{
		// Global norm over both params: √(3²+4²) = 5.
		{"clipped", [][]float32{{3}, {4}}, 1, 5, [][]float32{{0.6}, {0.8}}, 1e-6},
		{"under", [][]float32{{0.3}, {0.4}}, 1, 0.5, [][]float32{{0.3}, {0.4}}, 0},
		{"no max", [][]float32{{3}, {4}}, 0, 5, [][]float32{{3}, {4}}, 0},
		{"nan left alone", [][]float32{{float32(math.NaN())}, {4}}, 1, float32(math.NaN()), [][]float32{{float32(math.NaN())}, {4}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var params []*Param
			for i, g := range tc.grads {
				params = append(params, &Param{Name: string(rune('a' + i)), Data: make([]float32, len(g)), Grad: clone32(g)})
			}
			n := ClipGradNorm(params, tc.max)
			if !(n == tc.norm || math.IsNaN(float64(n)) && math.IsNaN(float64(tc.norm))) {
				t.Errorf("norm = %v, want %v", n, tc.norm)
			}
			for i, p := range params {
				for j, g := range p.Grad {
					w := tc.want[i][j]
					if math.IsNaN(float64(w)) {
						if !math.IsNaN(float64(g)) {
							t.Errorf("grad %d[%d] = %v, want NaN", i, j, g)
						}
						continue
					}
					if !close32(g, float64(w), tc.tolScale) {
						t.Errorf("grad %d[%d] = %v, want %v", i, j, g, w)
					}
				}
			}
		})
	}
}

func TestHasNonFinite(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name  string
		grads [][]float32
		bad   string
	}{
		{"clean", [][]float32{{1, 2}, {3}}, ""},
		{"nan", [][]float32{{1, 2}, {float32(math.NaN())}}, "p1"},
		{"inf", [][]float32{{1, -inf}, {3}}, "p0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var params []*Param
			for i, g := range tc.grads {
				params = append(params, &Param{Name: "p" + string(rune('0'+i)), Data: make([]float32, len(g)), Grad: g})
			}
			name, bad := HasNonFinite(params)
			if bad != (tc.bad != "") || name != tc.bad {
				t.Errorf("HasNonFinite = %q, %v; want %q", name, bad, tc.bad)
			}
		})
	}
}

func TestClipLatent(t *testing.T) {
	bin := &Param{Name: "bin", Data: []float32{-3, -1, -0.5, 0, 0.7, 1, 2.5}, Binary: true}
	fp := &Param{Name: "fp", Data: []float32{-3, 2.5}}
	if err := ClipLatent([]*Param{bin, fp}, 1); err != nil {
		t.Fatal(err)
	}
	want := []float32{-1, -1, -0.5, 0, 0.7, 1, 1}
	for i := range want {
		if bin.Data[i] != want[i] {
			t.Errorf("bin[%d] = %v, want %v", i, bin.Data[i], want[i])
		}
	}
	if fp.Data[0] != -3 || fp.Data[1] != 2.5 {
		t.Errorf("non-binary param clipped: %v", fp.Data)
	}
	for _, b := range []float32{0, -1, float32(math.NaN()), float32(math.Inf(1))} {
		if err := ClipLatent([]*Param{bin}, b); !errors.Is(err, ErrConfig) {
			t.Errorf("bound %v: err = %v, want ErrConfig", b, err)
		}
	}
}

func TestFlipCounter(t *testing.T) {
	a := &Param{Name: "a", Data: []float32{1, -1, 0, 0.5}, Binary: true}
	b := &Param{Name: "b", Data: make([]float32, 70), Binary: true} // spans two words
	fp := &Param{Name: "fp", Data: []float32{1, 1}}
	var c FlipCounter
	c.Snapshot([]*Param{a, b, fp})
	a.Data = []float32{-1, -1, float32(math.Copysign(0, -1)), 0.1} // −0 is not < 0: sign stays +1 (a literal -0.0 is +0 in Go)
	b.Data[0], b.Data[65], b.Data[69] = -1, -1, -2
	fp.Data[0] = -1
	f, total, err := c.Count([]*Param{a, b, fp})
	if err != nil {
		t.Fatal(err)
	}
	if f != 4 || total != 74 {
		t.Errorf("Count = %d/%d, want 4/74", f, total)
	}
	r, err := c.Ratio([]*Param{a, b, fp})
	if err != nil || r != 4.0/74 {
		t.Errorf("Ratio = %v, %v", r, err)
	}

	t.Run("missing snapshot", func(t *testing.T) {
		_, _, err := c.Count([]*Param{{Name: "new", Data: []float32{1}, Binary: true}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"new"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("resized", func(t *testing.T) {
		_, _, err := c.Count([]*Param{{Name: "a", Data: []float32{1}, Binary: true}})
		if !errors.Is(err, ErrShape) {
			t.Errorf("err = %v, want ErrShape", err)
		}
	})
	t.Run("no binary", func(t *testing.T) {
		var c FlipCounter
		c.Snapshot([]*Param{fp})
		if r, err := c.Ratio([]*Param{fp}); r != 0 || err != nil {
			t.Errorf("Ratio = %v, %v", r, err)
		}
	})
}

func TestStepErrors(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		params []*Param
		lr     float32
		want   error
		inMsg  string
	}{
		{"len mismatch", []*Param{{Name: "fc1.w", Data: []float32{1, 2}, Grad: []float32{1}}}, 0.1, ErrShape, `"fc1.w"`},
		{"nan grad", []*Param{
			{Name: "ok", Data: []float32{1}, Grad: []float32{1}},
			{Name: "conv2.w", Data: []float32{1, 2}, Grad: []float32{0, nan}},
		}, 0.1, ErrNonFinite, `"conv2.w": grad[1]`},
		{"inf grad", []*Param{{Name: "b", Data: []float32{1}, Grad: []float32{float32(math.Inf(-1))}}}, 0.1, ErrNonFinite, `"b"`},
		{"duplicate name", []*Param{
			{Name: "w", Data: []float32{1}, Grad: []float32{1}},
			{Name: "w", Data: []float32{1}, Grad: []float32{1}},
		}, 0.1, ErrConfig, `"w"`},
		{"nil param", []*Param{nil}, 0.1, ErrConfig, "nil"},
		{"negative lr", []*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}}, -1, ErrConfig, "learning rate"},
		{"nan lr", []*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}}, nan, ErrConfig, "learning rate"},
		{"negative decay", []*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}, Decay: f32p(-1)}}, 0.1, ErrConfig, `"w"`},
	}
	for _, name := range Names() {
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				o, err := New(name, Config{Momentum: 0.9, Inner: &SGD{}})
				if err != nil {
					t.Fatal(err)
				}
				var before [][]float32
				for _, p := range tc.params {
					if p != nil {
						before = append(before, clone32(p.Data))
					}
				}
				err = o.Step(tc.params, tc.lr)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.inMsg) {
					t.Fatalf("err = %v, want %v containing %s", err, tc.want, tc.inMsg)
				}
				i := 0
				for _, p := range tc.params {
					if p == nil {
						continue
					}
					for j := range p.Data {
						if p.Data[j] != before[i][j] {
							t.Errorf("%s changed on error", p.Name)
						}
					}
					i++
				}
			})
		}
	}
}

func TestInvalidHyperparameters(t *testing.T) {
	tests := []struct {
		name string
		opt  Optimizer
	}{
		{"nesterov without momentum", &SGD{Nesterov: true}},
		{"nesterov with dampening", &SGD{Momentum: 0.9, Dampening: 0.1, Nesterov: true}},
		{"negative momentum", &SGD{Momentum: -0.1}},
		{"sgd negative decay", &SGD{WeightDecay: -1}},
		{"beta1 = 1", &Adam{Beta1: 1, Beta2: 0.999, Eps: 1e-8}},
		{"beta2 negative", &Adam{Beta1: 0.9, Beta2: -0.1, Eps: 1e-8}},
		{"eps negative", &Adam{Beta1: 0.9, Beta2: 0.999, Eps: -1}},
		{"bop gamma 0", &Bop{Threshold: 1e-8}},
		{"bop gamma > 1", &Bop{Gamma: 2}},
		{"bop negative threshold", &Bop{Gamma: 1e-4, Threshold: -1}},
		{"bop bad inner", &Bop{Gamma: 1e-4, Inner: &SGD{Nesterov: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{1}}
			if err := tc.opt.Step([]*Param{p}, 0.1); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}
