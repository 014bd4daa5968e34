package torch_test

import (
	"math"
	"testing"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// logits runs m's eval graph on x (NCHW, as PyTorch takes it) and returns the logits.
func logits(t *testing.T, m *models.Model, x torch.Tensor) []float32 {
	t.Helper()
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	nhwc := make([]float32, len(x.Data))
	for b := range n {
		for ch := range c {
			for y := range h {
				for z := range w {
					nhwc[((b*h+y)*w+z)*c+ch] = x.Data[((b*c+ch)*h+y)*w+z]
				}
			}
		}
	}
	net, err := recipes.NewNet(m, n, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.Run(nhwc, make([]int32, n), n); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), net.Logits()...)
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestFixtureLogits loads the PyTorch-made fixtures (testdata/make_torch_fixtures.py)
// into lowbit models and compares lowbit's eval logits with PyTorch's on the same inputs.
func TestFixtureLogits(t *testing.T) {
	io, err := torch.ReadFile("testdata/logits.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ model, file string }{
		{"lenet5", "lenet5.safetensors"},
		{"lenet5", "lenet5.pt"},
		{"resnet20", "resnet20.safetensors"},
		{"resnet20", "resnet20.pt"},
	} {
		t.Run(c.file, func(t *testing.T) {
			m, err := models.New(models.Spec{Name: c.model, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := torch.LoadFile(m, "testdata/"+c.file, true)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Loaded == 0 {
				t.Fatalf("report: %s", rep)
			}
			want := io.Tensors[c.model+".logits"]
			got := logits(t, m, io.Tensors[c.model+".input"])
			if len(got) != len(want.Data) {
				t.Fatalf("%d logits, want %d", len(got), len(want.Data))
			}
			if d := maxDiff(got, want.Data); d > 1e-4 {
				t.Errorf("max |lowbit − PyTorch| = %.3g over %d logits, want ≤ 1e-4", d, len(got))
			} else {
				t.Logf("%d tensors; max |lowbit − PyTorch| = %.3g over %d logits", rep.Loaded, d, len(got))
			}
		})
	}
}
