package ste_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// TestExampleExports is the worked example's proof: Ternary, defined only in
// example_test.go, trains as a body layer's input quantizer, exports, and the
// packed engine reproduces the training graph, with no line of bitpack,
// export or models written for it. Being symmetric, it gets no ReLU in front.
func TestExampleExports(t *testing.T) {
	const batch, classes, steps = 64, 4, 20
	m, err := models.New(models.Spec{Name: "mlp", Input: []int{6, 6, 1}, Classes: classes, Hidden: []int{32, 32},
		Weights: ste.Sign{}, Inputs: Ternary{Step: 0.5}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	layers.Walk(m.Net, func(l layers.Layer) {
		if a, ok := l.(*layers.Activation); ok && a.Kind() == "relu" {
			t.Errorf("%s: a ReLU before a symmetric input quantizer", l.Name())
		}
	})
	x, y := exampleData(batch, 36, classes)
	trainExample(t, m, x, y, batch, steps)

	bm, err := export.Freeze(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range bm.Report() {
		if r.Name == "dense5" && r.Kernel != bitpack.KernelInt8 {
			t.Errorf("dense5 (the body layer) runs on kernel %s with input %s, want int8", r.Kernel, r.Input)
		}
	}
	got, err := bm.Predict(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	eval, err := recipes.NewNet(m, batch, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eval.Close()
	if err := eval.Run(x, y, batch); err != nil {
		t.Fatal(err)
	}
	want := eval.Logits()
	for r := 0; r < batch; r++ {
		g, w := got[r*classes:(r+1)*classes], want[r*classes:(r+1)*classes]
		var scale, diff float64
		for j := range w {
			scale = max(scale, math.Abs(float64(w[j])))
			diff = max(diff, math.Abs(float64(g[j]-w[j])))
		}
		if diff > 1e-4*max(scale, 1e-30) {
			t.Fatalf("row %d: engine %v, graph %v", r, g, w)
		}
	}
}

// exampleData is n seeded samples whose label is the sign pattern of two sums.
func exampleData(n, per, classes int) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, n*per)
	y := make([]int32, n)
	for i := range y {
		var a, b float32
		for j := range per {
			v := float32(rng.NormFloat64())
			x[i*per+j] = v
			if j < per/2 {
				a += v
			} else {
				b += v
			}
		}
		y[i] = int32((b2i(a > 0) + 2*b2i(b > 0)) % classes)
	}
	return x, y
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trainExample runs plain SGD steps on one batch, so the weights and the
// BatchNorm statistics leave their initial values.
func trainExample(t *testing.T, m *models.Model, x []float32, y []int32, batch, steps int) {
	t.Helper()
	net, err := recipes.NewNet(m, batch, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	first := float32(0)
	for s := range steps {
		if err := net.Run(x, y, batch); err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = net.Loss()
		}
		for i, g := range net.Grads() {
			p := net.Params()[i].Data()
			for j := range p {
				p[j] -= 0.05 * g[j]
			}
		}
	}
	if !(net.Loss() < first) {
		t.Errorf("loss %g after %d steps, %g at the start: no training", net.Loss(), steps, first)
	}
}
