package torch_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// python returns a Python interpreter that imports torch ($LOWBIT_PYTHON, then the
// system python, then python3 on the PATH, which a pyenv python may shadow), or skips
// (fails under LOWBIT_REQUIRE_DATA=1).
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("LOWBIT_PYTHON"), "/usr/bin/python3", "python3"} {
		if p != "" && exec.Command(p, "-c", "import torch, torchvision").Run() == nil {
			return p
		}
	}
	datatest.Missing(t, "no python3 that imports torch and torchvision (Debian python3-torch, python3-torchvision; or set LOWBIT_PYTHON)")
	return ""
}

// heInit gives m's weights He-normal values (so logits stay of order 1..100 through
// deep nets), small random biases and non-trivial BatchNorm parameters and statistics.
func heInit(m *models.Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params() {
		d := p.Data()
		scale := 0.1
		switch p.Kind {
		case layers.Weight:
			scale = math.Sqrt(2 / float64(len(d)/p.Value.Shape()[0]))
		case layers.BNScale:
			for i := range d {
				d[i] = 0.5 + rng.Float32()
			}
			continue
		}
		for i := range d {
			d[i] = float32(rng.NormFloat64() * scale)
		}
	}
	for _, s := range m.States() {
		for i := range s.Data {
			if strings.HasSuffix(s.Name, ".running_var") {
				s.Data[i] = 0.5 + 1.5*rng.Float32()
			} else if strings.HasSuffix(s.Name, ".running_mean") {
				s.Data[i] = float32(rng.NormFloat64() * 0.1)
			}
		}
	}
}

// TestPyTorchLoadsExport exports lowbit models to safetensors, loads each into its
// PyTorch layout in real PyTorch with load_state_dict(strict=True)
// (testdata/make_torch_fixtures.py check) and, for full-precision models, compares
// PyTorch's eval logits with lowbit's on the same random inputs (max |Δ| ≤ 1e-4).
func TestPyTorchLoadsExport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch once per model")
	}
	py := python(t)
	for _, c := range []struct {
		name   string
		spec   models.Spec
		logits bool
	}{
		{"lenet5", models.Spec{Name: "lenet5"}, true},
		{"lenet5-lsq-w4a4", models.Spec{Name: "lenet5", Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}}, false},
		{"resnet20", models.Spec{Name: "resnet20", Width: 0.5}, true},
		{"resnet18", models.Spec{Name: "resnet18", Input: []int{64, 64, 3}, Classes: 10}, true},
		{"vgg-small", models.Spec{Name: "vgg-small", Width: 0.125}, true},
		{"alexnet", models.Spec{Name: "alexnet", Width: 0.0625, Input: []int{96, 96, 3}, Classes: 10}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Seed = 1
			m, err := models.New(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			heInit(m, 11)
			sd, err := torch.Export(m, 3)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := json.Marshal(m.Spec)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			weights := filepath.Join(dir, "w.safetensors")
			if err := torch.WriteSafetensors(weights, sd, map[string]string{"format": "pt", "lowbit.model": string(spec)}); err != nil {
				t.Fatal(err)
			}
			args := []string{filepath.Join("testdata", "make_torch_fixtures.py"), "check", c.spec.Name, weights}
			if c.logits {
				args = append(args, writeIO(t, m, dir))
			}
			out, err := exec.Command(py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("PyTorch check failed: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// writeIO runs m on two random images and writes them (NCHW) and lowbit's logits.
func writeIO(t *testing.T, m *models.Model, dir string) string {
	h, w, c := m.Spec.Input[0], m.Spec.Input[1], m.Spec.Input[2]
	rng := rand.New(rand.NewPCG(5, 5))
	x := torch.Tensor{DType: "F32", Shape: []int{2, c, h, w}, Data: make([]float32, 2*c*h*w)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := logits(t, m, x)
	io := &torch.StateDict{Names: []string{"input", "logits"}, Tensors: map[string]torch.Tensor{
		"input":  x,
		"logits": {DType: "F32", Shape: []int{2, len(y) / 2}, Data: y},
	}}
	path := filepath.Join(dir, "io.safetensors")
	if err := torch.WriteSafetensors(path, io, nil); err != nil {
		t.Fatal(err)
	}
	return path
}
