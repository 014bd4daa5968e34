package ptq

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// floatModel builds a narrow LeNet-5 with random weights and random BatchNorm
// statistics, as a checkpoint.
func floatModel(t *testing.T, seed uint64) *recipes.Checkpoint {
	t.Helper()
	m, err := models.New(models.Spec{Name: "lenet5", Width: 0.5, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	layers.Walk(m.Net, func(l layers.Layer) {
		if bn, ok := l.(*layers.BatchNorm); ok {
			for i := range bn.RunMean {
				bn.RunMean[i] = float32(rng.NormFloat64() * 0.1)
				bn.RunVar[i] = float32(0.05 + rng.Float64()*0.3)
				bn.Gamma.Data()[i] = float32(0.5 + rng.Float64())
				bn.Beta.Data()[i] = float32(rng.NormFloat64()*0.1 + 0.1)
			}
		}
	})
	ck := &recipes.Checkpoint{Model: m.Spec, Dataset: "mnist"}
	ck.Snapshot(m)
	return ck
}

// calibSet makes n random images in [−0.5, 2] with labels cycling over 10 classes.
func calibSet(n int, seed uint64) Calib {
	rng := rand.New(rand.NewPCG(seed, 5))
	c := Calib{X: make([]float32, n*28*28), Labels: make([]int, n)}
	for i := range c.X {
		c.X[i] = float32(rng.Float64()*2.5 - 0.5)
	}
	for i := range c.Labels {
		c.Labels[i] = i % 10
	}
	return c
}

func predict(t *testing.T, m *models.Model, x []float32, n int) []float32 {
	t.Helper()
	bm, err := export.Freeze(m)
	if err != nil {
		t.Fatal(err)
	}
	y, err := bm.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestFoldBNKeepsTheFunction(t *testing.T) {
	ck := floatModel(t, 1)
	m, err := ck.Restore()
	if err != nil {
		t.Fatal(err)
	}
	c := calibSet(16, 2)
	before := predict(t, m, c.X, 16)
	n, err := FoldBN(m)
	if err != nil || n != 3 {
		t.Fatalf("folded %d, err %v; want 3", n, err)
	}
	after := predict(t, m, c.X, 16)
	for i := range before {
		if d := math.Abs(float64(before[i] - after[i])); d > 1e-4*(1+math.Abs(float64(before[i]))) {
			t.Fatalf("logit %d: %g before folding, %g after", i, before[i], after[i])
		}
	}
	for _, eps := range []float32{1e-5, 1e-3, 0.1} {
		v, err := unitVar(eps)
		if err != nil || float32(1/math.Sqrt(float64(v)+float64(eps))) != 1 {
			t.Errorf("eps %g: var %g, err %v", eps, v, err)
		}
	}
}

func TestQuantizeW8A8MatchesFloatAndExports(t *testing.T) {
	ck := floatModel(t, 4)
	c := calibSet(64, 6)
	fp, _ := ck.Restore()
	want := predict(t, fp, c.X, 64)
	for _, cfg := range []Config{
		{WBits: 8, ABits: 8, Method: Max, WMethod: Max},
		{WBits: 8, ABits: 8, Method: Entropy, WMethod: MSE, PerChannel: true, BiasCorrect: true},
		{WBits: 4, ABits: 8, Method: Percentile, WMethod: MSE, PerChannel: true, AdaRound: true, Ada: AdaConfig{Iters: 50}, Rows: 256},
	} {
		t.Run(cfg.Method.String(), func(t *testing.T) {
			q, rep, err := Quantize(ck, c, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Layers) != 2 { // conv and dense in the body; first/last stay fp
				t.Fatalf("%d quantized layers, want 2", len(rep.Layers))
			}
			qm, err := q.Restore()
			if err != nil {
				t.Fatal(err)
			}
			bm, err := export.Freeze(qm)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range bm.Report() {
				if l.Input != "fp" && (l.Kind == "conv" || l.Kind == "dense") && l.Kernel != bitpack.KernelInt8 {
					t.Errorf("layer %s runs %s, want the int8 kernel", l.Name, l.Kernel)
				}
			}
			got, err := bm.Predict(c.X, 64)
			if err != nil {
				t.Fatal(err)
			}
			agree := 0
			for i := 0; i < 64; i++ {
				if argmax(got[i*10:(i+1)*10]) == argmax(want[i*10:(i+1)*10]) {
					agree++
				}
			}
			if cfg.WBits == 8 && agree < 60 {
				t.Errorf("argmax agrees with the float model on %d/64", agree)
			}
			for _, l := range rep.Layers {
				if cfg.AdaRound && !(l.RecAda < l.RecNearest) {
					t.Errorf("%s: AdaRound %g not below nearest %g", l.Name, l.RecAda, l.RecNearest)
				}
			}
		})
	}
}

func argmax(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

func TestQuantizeBadInput(t *testing.T) {
	ck := floatModel(t, 8)
	good := calibSet(20, 9)
	oneClass := calibSet(20, 9)
	clear(oneClass.Labels)
	short := calibSet(20, 9)
	short.X = short.X[:len(short.X)-28]
	cfg := Config{WBits: 8, ABits: 8}
	dead := floatModel(t, 8)
	deadModel, _ := dead.Restore()
	// A very negative shift after the first conv makes its ReLU output zero everywhere:
	// the next quantized layer (the second conv) sees only zeros.
	deadLayer := ""
	for i, s := range sites(deadModel) {
		if i == 0 {
			for j := range s.bn.Beta.Data() {
				s.bn.Beta.Data()[j] = -1e6
			}
		}
		if i == 1 {
			deadLayer = s.layer.Name()
		}
	}
	dead.Snapshot(deadModel)
	for _, tc := range []struct {
		name string
		ck   *recipes.Checkpoint
		c    Calib
		cfg  Config
		want string
	}{
		{"empty", ck, Calib{}, cfg, "empty"},
		{"one class", ck, oneClass, cfg, "class 0"},
		{"wrong shape", ck, short, cfg, "per image"},
		{"dead layer", dead, good, cfg, deadLayer + ": its inputs are all zero"},
		{"no bits", ck, good, Config{}, "neither"},
		{"entropy weights", ck, good, Config{WBits: 4, WMethod: Entropy}, "weight method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Quantize(tc.ck, tc.c, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.name != "no bits" && tc.name != "entropy weights" && !errors.Is(err, ErrCalib) {
				t.Errorf("error %v is not ErrCalib", err)
			}
		})
	}
}
