package models_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

func countParams(m *models.Model) int {
	n := 0
	for _, p := range m.Params() {
		n += len(p.Data())
	}
	return n
}

// TestZooParamCounts builds each CIFAR/ImageNet model at its default input and
// compares its learnable parameters (weights, biases, BN γ and β) with the
// published count.
func TestZooParamCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		want float64 // published parameters
		tol  float64 // relative
		ref  string
	}{
		// He et al. 2016 Table 6: 0.27M (option A shortcuts; option B adds 2,560 1×1 weights).
		{"resnet20", 0.27e6, 0.02, "He et al. 2016, Table 6"},
		// torchvision resnet18: 11,689,512.
		{"resnet18", 11_689_512, 0.001, "torchvision resnet18"},
		// No count is published; 4.66M is the sum over LQ-Nets' layer list (convs 4,574,592 + FC 81,920).
		{"vgg-small", 4.66e6, 0.01, "LQ-Nets layer list"},
		// Krizhevsky et al. 2012: "60 million parameters" (grouped convs); ungrouped with BN ≈ 62.4M.
		{"alexnet", 61e6, 0.03, "Krizhevsky et al. 2012"},
		// Bi-Real Net keeps ResNet-18's weights (only the shortcuts move).
		{"birealnet18", 11_689_512, 0.001, "ResNet-18 (Liu et al. 2018 reuse it)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := models.New(models.Spec{Name: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Out) != 1 || m.Out[0] != m.Spec.Classes {
				t.Errorf("output %v, want [%d]", m.Out, m.Spec.Classes)
			}
			got := countParams(m)
			if d := math.Abs(float64(got)-tc.want) / tc.want; d > tc.tol {
				t.Errorf("%d parameters, want %.0f ± %.1f%% (%s)", got, tc.want, 100*tc.tol, tc.ref)
			}
			t.Logf("%s: %d parameters (%s: %.0f)", tc.name, got, tc.ref, tc.want)
		})
	}
}

// TestRegisteredBuild builds every registered model for its default input.
func TestRegisteredBuild(t *testing.T) {
	for _, name := range models.Names() {
		m, err := models.New(models.Spec{Name: name})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(m.Out) != 1 || m.Out[0] != m.Spec.Classes {
			t.Errorf("%s: output %v, want [%d]", name, m.Out, m.Spec.Classes)
		}
	}
}

// TestZooSpecShapes checks that input size and classes come from the Spec and that
// Width scales the channels.
func TestZooSpecShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input []int
	}{
		{"resnet20", []int{32, 32, 3}},
		{"vgg-small", []int{32, 32, 3}},
		{"resnet18", []int{64, 64, 3}},
		{"birealnet18", []int{64, 64, 3}},
		{"alexnet", []int{96, 96, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, err := models.New(models.Spec{Name: tc.name, Input: tc.input, Classes: 7})
			if err != nil {
				t.Fatal(err)
			}
			narrow, err := models.New(models.Spec{Name: tc.name, Input: tc.input, Classes: 7, Width: 0.25})
			if err != nil {
				t.Fatal(err)
			}
			if full.Out[0] != 7 || narrow.Out[0] != 7 {
				t.Errorf("outputs %v and %v, want 7 classes", full.Out, narrow.Out)
			}
			if f, n := countParams(full), countParams(narrow); n*4 > f {
				t.Errorf("width 0.25 has %d parameters, full %d: want at most a quarter", n, f)
			}
		})
	}
}

// TestZooTrainStep runs one forward+backward step of a narrow variant of every
// CIFAR/ImageNet model on a batch of 2, full precision and XNOR.
func TestZooTrainStep(t *testing.T) {
	small := map[string][]int{
		"resnet18": {32, 32, 3}, "birealnet18": {32, 32, 3}, "alexnet": {64, 64, 3},
	}
	for _, name := range []string{"resnet20", "vgg-small", "resnet18", "birealnet18", "alexnet"} {
		for _, q := range []struct {
			name string
			w    ste.Quantizer
			in   ste.Quantizer
		}{{"fp", nil, nil}, {"xnor", ste.XNOR{}, ste.Sign{}}} {
			t.Run(name+"/"+q.name, func(t *testing.T) {
				spec := models.Spec{Name: name, Input: small[name], Width: 0.125, Weights: q.w, Inputs: q.in, Seed: 3}
				m, err := models.New(spec)
				if err != nil {
					t.Fatal(err)
				}
				var step uint64
				net, err := recipes.NewNet(m, 2, true, &step)
				if err != nil {
					t.Fatal(err)
				}
				defer net.Close()
				per := 1
				for _, d := range m.Spec.Input {
					per *= d
				}
				rng := rand.New(rand.NewPCG(1, 2))
				x := make([]float32, 2*per)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				y := []int32{0, int32(m.Spec.Classes - 1)}
				if err := net.Run(x, y, 2); err != nil {
					t.Fatal(err)
				}
				if l := net.Loss(); math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) || l <= 0 {
					t.Errorf("loss %v, want finite and positive", l)
				}
				nonzero := false
				for i, g := range net.Grads() {
					for _, v := range g {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("gradient of %s is %v", net.Params()[i].Name, v)
						}
						nonzero = nonzero || v != 0
					}
				}
				if !nonzero {
					t.Error("all gradients are zero")
				}
			})
		}
	}
}

// TestZooPolicy checks that only the first conv and the last dense are full
// precision under the FP policy, and that Bi-Real's downsampling convs stay real.
func TestZooPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		realBody int // body convs kept full precision
	}{{"resnet20", 0}, {"resnet18", 0}, {"vgg-small", 0}, {"alexnet", 0}, {"birealnet18", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := models.New(models.Spec{Name: tc.name, Width: 0.125, Weights: ste.XNOR{}, Inputs: ste.Sign{}, Policy: models.FP})
			if err != nil {
				t.Fatal(err)
			}
			var fp []string
			var quantized int
			layers.Walk(m.Net, func(l layers.Layer) {
				q, ok := l.(layers.Quantized)
				if !ok {
					return
				}
				if w, _ := q.Quantizers(); w == nil {
					fp = append(fp, l.Name())
				} else {
					quantized++
				}
			})
			if len(fp) != 2+tc.realBody || !strings.HasPrefix(fp[0], "conv") || !strings.HasPrefix(fp[len(fp)-1], "dense") {
				t.Errorf("full-precision layers %v, want the first conv, %d real shortcut convs and the last dense", fp, tc.realBody)
			}
			if quantized == 0 {
				t.Error("no quantized layer")
			}
		})
	}
}

// TestSummarizeResNet18XNOR summarises ResNet-18 with the xnor recipe's quantizers:
// all MACs but the stem's and the classifier's are binary, 1.8G in total.
func TestSummarizeResNet18XNOR(t *testing.T) {
	r, err := recipes.Lookup("xnor")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(r.Config("resnet18", "imagenette").Model)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.Summarize(m)
	if err != nil {
		t.Fatal(err)
	}
	total := s.MACs["binary"] + s.MACs["k-bit"] + s.MACs["fp32"]
	stem := int64(112 * 112 * 64 * 7 * 7 * 3)
	fc := int64(512 * 1000)
	if s.MACs["fp32"] != stem+fc {
		t.Errorf("fp32 MACs %d, want stem + fc = %d", s.MACs["fp32"], stem+fc)
	}
	if total < 1.7e9 || total > 1.9e9 {
		t.Errorf("%d MACs per sample, want about 1.8G", total)
	}
	if s.Bytes*10 > s.FP32Bytes {
		t.Errorf("deployed %d B vs fp32 %d B: want over 10x compression", s.Bytes, s.FP32Bytes)
	}
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "binary") || !strings.Contains(buf.String(), "conv3x3") {
		t.Errorf("summary lacks binary conv3x3 rows:\n%s", buf.String())
	}
}
