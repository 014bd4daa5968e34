package bench

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lowbit/lowbit/models"
)

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		name  string
		row   []float32
		label int
		want  int
	}{
		{"top", []float32{0.1, 3, 0.2}, 1, 0},
		{"second", []float32{5, 3, 0.2}, 1, 1},
		{"last", []float32{5, 3, 0.2, 4, 7, 6}, 2, 5},
		{"tie with a smaller index comes first", []float32{2, 2, 1}, 1, 1},
		{"tie with a larger index comes after", []float32{2, 2, 1}, 0, 0},
		{"top-5 edge", []float32{9, 8, 7, 6, 5, 4}, 4, 4},
		{"just outside top-5", []float32{9, 8, 7, 6, 5, 4}, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rank(tc.row, tc.label); got != tc.want {
				t.Errorf("Rank(%v, %d) = %d, want %d", tc.row, tc.label, got, tc.want)
			}
			// Top-1 agrees with argmax (recipes.Correct's rule).
			if (Rank(tc.row, tc.label) == 0) != (argmax(tc.row) == tc.label) {
				t.Errorf("rank 0 disagrees with argmax %d", argmax(tc.row))
			}
		})
	}
}

// labelled is a dataset of random 8×8×3 images with labels i mod classes.
type labelled struct{ n, classes int }

func (d labelled) Len() int             { return d.n }
func (d labelled) Shape() (h, w, c int) { return 8, 8, 3 }
func (d labelled) NumClasses() int      { return d.classes }
func (d labelled) Example(i int, x []float32, _ *rand.Rand) (int, error) {
	r := rand.New(rand.NewPCG(uint64(i), 1))
	for j := range x {
		x[j] = float32(r.NormFloat64())
	}
	return i % d.classes, nil
}

// echo is a packed model that returns fixed logits favouring class 0, or fails.
type echo struct {
	classes int
	fail    bool
}

func (e echo) Predict(x []float32, n int) ([]float32, error) {
	if e.fail {
		return nil, errors.New("boom")
	}
	out := make([]float32, n*e.classes)
	for r := range n {
		out[r*e.classes] = 1
	}
	return out, nil
}

// TestEvaluateTopK checks top-k against a direct count and the batch-size
// independence of the result, and that the packed engine's figures are filled in.
func TestEvaluateTopK(t *testing.T) {
	m, err := models.New(models.Spec{Name: "mlp", Input: []int{8, 8, 3}, Classes: 7, Hidden: []int{16}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ds := labelled{n: 45, classes: 7}
	var first *EvalResult
	for _, batch := range []int{1, 8, 45} {
		r, err := EvaluateTopK(m, ds, batch, 2, 0, echo{classes: 7})
		if err != nil {
			t.Fatal(err)
		}
		if r.N != 45 || r.Top5 < r.Top1 || r.PackedErr != nil {
			t.Fatalf("batch %d: %+v", batch, r)
		}
		// Labels are i mod 7 and echo always says 0: 7 of 45 are class 0.
		if want := 7.0 / 45; r.PackedTop1 != want {
			t.Errorf("batch %d: packed top-1 %v, want %v", batch, r.PackedTop1, want)
		}
		if g, p := r.Rates(); g <= 0 || p <= 0 || r.FirstN != batch {
			t.Errorf("batch %d: rates %v and %v, first batch %d", batch, g, p, r.FirstN)
		}
		if first == nil {
			first = r
		} else if r.Top1 != first.Top1 || r.Top5 != first.Top5 || abs(r.Loss-first.Loss) > 1e-5 {
			t.Errorf("batch %d: top-1 %v top-5 %v loss %v, batch 1 gave %v %v %v", batch, r.Top1, r.Top5, r.Loss, first.Top1, first.Top5, first.Loss)
		}
	}
	r, err := EvaluateTopK(m, ds, 8, 1, 10, echo{classes: 7, fail: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 10 || r.PackedErr == nil || !strings.Contains(r.PackedErr.Error(), "boom") {
		t.Errorf("limit 10 with a failing engine: N %d, packed error %v", r.N, r.PackedErr)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestPeakRSS(t *testing.T) {
	b, err := PeakRSS()
	if err != nil {
		t.Skip(err) // no /proc
	}
	if b < 1<<20 || b > 1<<40 {
		t.Errorf("peak RSS %d bytes is implausible", b)
	}
}

func TestWriteImageNetReport(t *testing.T) {
	r := &ImageNetReport{
		Dataset: "imagenette", Recipe: "xnor", Spec: models.Spec{Name: "resnet18", Input: []int{64, 64, 3}, Classes: 10, Width: 0.25},
		Params: 703386, TrainN: 2000, TestN: 500, TestSplit: "val", Batch: 32, EvalBatch: 32, Trained: true, Epochs: 1, Steps: 62,
		TrainTime: 90 * time.Second, Eval: &EvalResult{N: 500, Top1: 0.25, Top5: 0.7, Loss: 2.1},
		LoaderIPS: 600, StepIPS: 120, StepSource: "mean", PipelineIPS: 118, EvalIPS: 400, PackedNote: "not exported: no", PeakRSS: 3 << 29,
	}
	var buf bytes.Buffer
	if err := WriteImageNetReport(&buf, r, "lowbit bench imagenet", ThisMachine()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# ImageNet-style benchmark: resnet18, recipe xnor, on imagenette",
		"| input | 64×64×3, 10 classes |", "| width | 0.25 |",
		"| val | 500 | 25.00% | 70.00% | 2.1000 |",
		"| loader alone | 600.0 |", "| training step | 120.0 |", "| packed engine | - | not exported: no |",
		"Peak RSS (VmHWM, whole run): 1.50 GiB", "Loader bottleneck: no: the loader alone gives 600.0 images/s, 5.00×",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	if got := ReportPath("resnet18", "xnor"); got != "docs/results/imagenet-resnet18-xnor.md" {
		t.Errorf("ReportPath = %q", got)
	}
}
