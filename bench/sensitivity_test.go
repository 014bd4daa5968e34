package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// TestSensitivity trains a small MLP for 50 steps, scans its three dense layers at
// 2-bit LSQ weights, and checks the table, the chart and the suggestion.
func TestSensitivity(t *testing.T) {
	needMNIST(t)
	ckpt := filepath.Join(t.TempDir(), "mlp.ckpt")
	if _, err := recipes.Train(context.Background(), recipes.Config{
		Model: models.Spec{Name: "mlp", Hidden: []int{64, 32}}, MaxSteps: 50, EvalLimit: 200, Seed: 2, Out: ckpt,
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := Sensitivity(SensitivityConfig{Checkpoint: ckpt, Weights: ste.LSQ{Bits: 2}, Budget: 4, EvalLimit: 300})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 3 || rep.Layers[0].Layer != "dense2" || rep.Layers[0].Weights != 784*64 {
		t.Fatalf("layers %+v", rep.Layers)
	}
	if rep.Baseline < 50 {
		t.Errorf("baseline %.2f%% after 50 steps", rep.Baseline)
	}
	for _, l := range rep.Layers {
		if l.Acc < 0 || l.Acc > 100 || l.Drop != rep.Baseline-l.Acc {
			t.Errorf("layer %+v", l)
		}
	}
	if !rep.Feasible || rep.AvgBits > 4 || rep.LowBits != 2 || rep.HighBits != 8 || len(rep.Assignment) != 3 {
		t.Errorf("assignment %v: average %.2f, feasible %v", rep.Assignment, rep.AvgBits, rep.Feasible)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	for _, want := range []string{"dense2", "dense5", "dense8", "suggested weight bits for an average of 4.00", "quantized together"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	b, err := rep.PNG()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.png")
	os.WriteFile(path, b, 0o644)
	readPNG(t, path)
	t.Logf("\n%s", out.String())
}
