package recipes

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// TestInitFrom copies an FP LeNet-5's tensors into an LSQ W2A2 one and checks the
// copies, the weight steps s = 2·mean|w|/√Q_P of the loaded weights (Q_P = 1 at 2
// bits signed), and the input steps reset to 0.
func TestInitFrom(t *testing.T) {
	fp, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range fp.States() {
		for j := range s.Data {
			s.Data[j] = float32(i+1) + float32(j)/100 // recognisable BN statistics
		}
	}
	ck := &Checkpoint{Model: fp.Spec, Dataset: "mnist", Optimizer: "none"}
	ck.snapshot(fp)
	path := filepath.Join(t.TempDir(), "fp.ckpt")
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}

	q, err := models.New(models.Spec{Name: "lenet5", Weights: ste.LSQ{Bits: 2}, Inputs: ste.LSQ{Bits: 2}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range q.Params() {
		if strings.HasSuffix(p.Name, ".iq.step") {
			p.Data()[0] = 0.5 // as if trained; InitFrom must reset it
		}
	}
	if err := InitFrom(q, path); err != nil {
		t.Fatal(err)
	}
	src := map[string][]float32{}
	for _, d := range modelTensors(fp) {
		src[d.Name] = d.Data
	}
	var copied, steps, inputs int
	for _, d := range modelTensors(q) {
		if s, ok := src[d.Name]; ok {
			copied++
			for i := range s {
				if s[i] != d.Data[i] {
					t.Fatalf("%s[%d] = %v, want %v", d.Name, i, d.Data[i], s[i])
				}
			}
		}
	}
	for _, p := range q.Params() {
		switch {
		case strings.HasSuffix(p.Name, ".wq.step"):
			w := src[strings.TrimSuffix(p.Name, ".wq.step")+".weight"]
			var sum float64
			for _, v := range w {
				sum += math.Abs(float64(v))
			}
			want := 2 * sum / float64(len(w)) / math.Sqrt(1)
			if got := float64(p.Data()[0]); math.Abs(got-want) > 1e-6*want {
				t.Errorf("%s = %v, want 2·mean|w|/√Q_P = %v", p.Name, got, want)
			}
			steps++
		case strings.HasSuffix(p.Name, ".iq.step"):
			if p.Data()[0] != 0 {
				t.Errorf("%s = %v, want 0 (re-initialised from the first batch)", p.Name, p.Data()[0])
			}
			inputs++
		}
	}
	// FP LeNet-5: 4 weights + 1 bias (last layer) + 3×2 BN params + 3×2 BN statistics.
	if copied != 17 || steps != 2 || inputs != 2 {
		t.Errorf("copied %d tensors (want 17), checked %d weight steps (want 2) and %d input steps (want 2)", copied, steps, inputs)
	}

	other, err := models.New(models.Spec{Name: "larq-cnn"})
	if err != nil {
		t.Fatal(err)
	}
	if err := InitFrom(other, path); err == nil {
		t.Error("InitFrom of an unrelated model: no error")
	}
}

// TestInitFromPyTorch initialises an LSQ W4A4 LeNet-5 from the PyTorch fixtures
// (interop/torch/testdata): the same weights as a full-precision import, the weight
// steps re-derived from them; a mismatched file fails strictly and warns leniently.
func TestInitFromPyTorch(t *testing.T) {
	for _, file := range []string{"lenet5.pt", "lenet5.safetensors"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("..", "interop", "torch", "testdata", file)
			fp, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := torch.LoadFile(fp, path, true); err != nil {
				t.Fatal(err)
			}
			q, err := models.New(models.Spec{Name: "lenet5", Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			steps := map[string]float32{}
			for _, p := range q.Params() {
				if strings.HasSuffix(p.Name, ".wq.step") {
					steps[p.Name] = p.Data()[0]
				}
			}
			if err := InitFrom(q, path); err != nil {
				t.Fatal(err)
			}
			want := map[string][]float32{}
			for _, d := range modelTensors(fp) {
				want[d.Name] = d.Data
			}
			for _, d := range modelTensors(q) {
				if w, ok := want[d.Name]; ok && fmt.Sprint(w) != fmt.Sprint(d.Data) {
					t.Errorf("%s differs from a full-precision import", d.Name)
				}
				if s, ok := steps[d.Name]; ok && s == d.Data[0] {
					t.Errorf("%s = %v was not re-derived from the loaded weights", d.Name, s)
				}
			}
		})
	}
	r20 := filepath.Join("..", "interop", "torch", "testdata", "resnet20.safetensors")
	m, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := InitFrom(m, r20); !errors.Is(err, torch.ErrMismatch) || !strings.Contains(err.Error(), "layer1.0.conv1.weight") {
		t.Errorf("strict InitFrom of a ResNet-20 file into LeNet-5: %v", err)
	}
	var warned string
	err = InitFromWith(m, r20, InitOptions{Lenient: true, Warn: func(s string) { warned = s }})
	if err == nil || warned != "" {
		t.Errorf("lenient, nothing matching: error %v, warning %q; want an error", err, warned)
	}

	sd, err := torch.ReadFile(filepath.Join("..", "interop", "torch", "testdata", "lenet5.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	delete(sd.Tensors, "bn3.running_var")
	sd.Names = slices.DeleteFunc(sd.Names, func(n string) bool { return n == "bn3.running_var" })
	partial := filepath.Join(t.TempDir(), "partial.safetensors")
	if err := torch.WriteSafetensors(partial, sd, nil); err != nil {
		t.Fatal(err)
	}
	if err := InitFrom(m, partial); err == nil {
		t.Error("strict InitFrom of a file missing bn3.running_var: no error")
	}
	if err := InitFromWith(m, partial, InitOptions{Lenient: true, Warn: func(s string) { warned = s }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warned, "1 missing: bn3.running_var") || !strings.Contains(warned, "loaded 16 tensors") {
		t.Errorf("lenient warning %q, want it to list bn3.running_var and 16 loaded tensors", warned)
	}
}
