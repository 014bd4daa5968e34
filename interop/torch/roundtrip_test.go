package torch_test

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// randomize gives every weight, bias, BN parameter and running statistic of m
// seeded random values (so a transposition or a swapped BN tensor shows).
func randomize(m *models.Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, p := range m.Params() {
		for i := range p.Data() {
			p.Data()[i] = rng.Float32()*2 - 1
		}
	}
	for _, s := range m.States() {
		for i := range s.Data {
			s.Data[i] = rng.Float32() + 0.5
		}
	}
}

// floats lists m's mapped tensors (weights, biases, BN γ/β and running statistics) by lowbit name.
func floats(m *models.Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range m.Params() {
		if p.Kind == layers.Weight || p.Kind == layers.Bias || p.Kind == layers.BNScale || p.Kind == layers.BNShift {
			out[p.Name] = p.Data()
		}
	}
	for _, s := range m.States() {
		if strings.HasSuffix(s.Name, ".running_mean") || strings.HasSuffix(s.Name, ".running_var") {
			out[s.Name] = s.Data
		}
	}
	return out
}

// TestRoundTrip exports a model with random tensors to safetensors, imports the file
// into a differently seeded model, and expects every mapped tensor back bit for bit.
func TestRoundTrip(t *testing.T) {
	for _, spec := range []models.Spec{
		{Name: "lenet5"},
		{Name: "lenet5", NoBN: true},
		{Name: "lenet5", Weights: ste.XNOR{}, Inputs: ste.Sign{}, Policy: models.Same},
		{Name: "mlp", Hidden: []int{32, 16}},
		{Name: "resnet20", Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}},
		{Name: "resnet18", Width: 0.125, Input: []int{64, 64, 3}, Classes: 10},
		{Name: "vgg-small", Width: 0.125},
		{Name: "alexnet", Width: 0.0625, Classes: 10},
	} {
		t.Run(spec.String(), func(t *testing.T) {
			spec.Seed = 1
			a, err := models.New(spec)
			if err != nil {
				t.Fatal(err)
			}
			randomize(a, 3)
			sd, err := torch.Export(a, 42)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := torch.WriteSafetensors(path, sd, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
			spec.Seed = 2
			b, err := models.New(spec)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := torch.LoadFile(b, path, true)
			if err != nil {
				t.Fatal(err)
			}
			want, got := floats(a), floats(b)
			if rep.Loaded != len(want) {
				t.Errorf("loaded %d tensors, the model has %d mapped ones", rep.Loaded, len(want))
			}
			for name, w := range want {
				g := got[name]
				for i := range w {
					if g[i] != w[i] {
						t.Fatalf("%s[%d] = %v after the round trip, want %v", name, i, g[i], w[i])
					}
				}
			}
			back, err := torch.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range back.Names {
				if strings.HasSuffix(n, ".num_batches_tracked") {
					if v := back.Tensors[n]; v.DType != "I64" || len(v.Shape) != 0 || v.Int[0] != 42 {
						t.Errorf("%s = %+v, want an I64 scalar 42", n, v)
					}
				}
			}
		})
	}
}

// TestLoadMismatch checks what a wrong file reports, strict and not.
func TestLoadMismatch(t *testing.T) {
	lenet, err := torch.ReadFile("testdata/lenet5.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	edited := &torch.StateDict{Tensors: map[string]torch.Tensor{}}
	for _, n := range lenet.Names {
		switch n {
		case "bn2.running_var": // missing
			continue
		case "fc2.bias": // mis-shaped
			edited.Tensors[n] = torch.Tensor{DType: "F32", Shape: []int{11}, Data: make([]float32, 11)}
		default:
			edited.Tensors[n] = lenet.Tensors[n]
		}
		edited.Names = append(edited.Names, n)
	}
	edited.Names = append(edited.Names, "head.weight")
	edited.Tensors["head.weight"] = torch.Tensor{DType: "F32", Shape: []int{1}, Data: []float32{1}}

	for _, c := range []struct {
		name, model string
		sd          *torch.StateDict
		strict      bool
		wantErr     []string // substrings of the error; nil: no error
		loaded      int
	}{
		{"exact", "lenet5", lenet, true, nil, 17},
		{"edited strict", "lenet5", edited, true, []string{"1 missing: bn2.running_var", "1 unexpected: head.weight", "fc2.bias: file [11] F32, model [10]"}, 0},
		{"edited lenient", "lenet5", edited, false, nil, 15},
		{"other model strict", "resnet20", lenet, true, []string{"layer3.2.bn2.running_var", "fc1.weight", "conv1.weight: file [20 1 5 5] F32, model [16 3 3 3]"}, 0},
		{"other model lenient", "vgg-small", lenet, false, []string{"no tensor matches"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := models.New(models.Spec{Name: c.model, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			before := append([]float32(nil), m.Params()[0].Data()...)
			rep, err := torch.Load(m, c.sd, c.strict)
			if c.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if rep.Loaded != c.loaded {
					t.Errorf("loaded %d, want %d (%s)", rep.Loaded, c.loaded, rep)
				}
				return
			}
			if !errors.Is(err, torch.ErrMismatch) {
				t.Fatalf("error %v, want ErrMismatch", err)
			}
			for _, s := range c.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			for i, v := range m.Params()[0].Data() {
				if v != before[i] {
					t.Fatalf("a failed load changed the model")
				}
			}
		})
	}
	if _, err := torch.Export(mustModel(t, models.Spec{Name: "birealnet18", Width: 0.125}), 0); !errors.Is(err, torch.ErrNoLayout) {
		t.Errorf("export of birealnet18: %v, want ErrNoLayout", err)
	}
}

func mustModel(t *testing.T, s models.Spec) *models.Model {
	t.Helper()
	m, err := models.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
