package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/datatest"
)

// needMNIST skips (or fails under LOWBIT_REQUIRE_DATA=1) when MNIST is absent.
func needMNIST(t *testing.T) {
	t.Helper()
	_, err := datasets.Open("mnist", "test", "", datasets.Options{})
	if errors.Is(err, datasets.ErrNotFound) {
		datatest.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r := img.Bounds(); r.Dx() < 200 || r.Dy() < 200 {
		t.Errorf("%s: %v image", path, r)
	}
}

// TestAccuracyGrid runs two recipes for 5 steps each on real MNIST, checks the
// report files, and checks that a second run skips the finished cells.
func TestAccuracyGrid(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	cfg := AccuracyConfig{
		Recipes: []string{"lsq-w2a2", "fp"}, Datasets: []string{"mnist"}, Seed: 3,
		MaxSteps: 5, EvalLimit: 100, Out: dir, Checkpoints: filepath.Join(dir, "ckpt"), InitFP: true,
		Command: "lowbit bench accuracy -test",
	}
	var order []string
	cfg.OnStart = func(c Cell) { order = append(order, c.Recipe) }
	rep, err := RunAccuracy(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ran != 2 || rep.Skipped != 0 || len(rep.Cells) != 2 {
		t.Fatalf("ran %d, skipped %d, %d cells; want 2, 0, 2", rep.Ran, rep.Skipped, len(rep.Cells))
	}
	if strings.Join(order, ",") != "fp,lsq-w2a2" {
		t.Errorf("ran %v, want fp first (LSQ starts from its checkpoint)", order)
	}
	for _, c := range rep.Cells {
		if c.Steps != 5 || math.IsNaN(c.Acc) || c.Acc < 0 || c.Acc > 100 || c.Epochs != 3 {
			t.Errorf("cell %+v", c)
		}
		if (c.Recipe == "lsq-w2a2") != (c.InitFrom != "") {
			t.Errorf("%s: init from %q", c.Recipe, c.InitFrom)
		}
	}
	if c := rep.Cells[1]; c.Recipe != "lsq-w2a2" || c.WBits != 2 || c.ABits != 2 || c.Family != "lsq" || c.Expect != 99.0 {
		t.Errorf("lsq cell %+v", c)
	}
	md, err := os.ReadFile(filepath.Join(dir, "accuracy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Accuracy of the paper recipes", "`lowbit bench accuracy -test`", "| recipe | W bits | A bits | MNIST acc | expected |", "| fp | 32 | 32 |", "| lsq-w2a2 | 2 | 2 |", "mnist: FAIL", "missing W1A1, W1A2, W4A4", "accuracy.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("accuracy.md lacks %q:\n%s", want, md)
		}
	}
	f, err := os.Open(filepath.Join(dir, "accuracy.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || rows[1][0] != "fp" || rows[2][0] != "lsq-w2a2" {
		t.Errorf("accuracy.csv: %v %v", rows, err)
	}
	readPNG(t, filepath.Join(dir, "accuracy.png"))

	again, err := RunAccuracy(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Ran != 0 || again.Skipped != 2 {
		t.Errorf("second run: ran %d, skipped %d; want 0, 2", again.Ran, again.Skipped)
	}
	for i, c := range again.Cells {
		if c.Acc != rep.Cells[i].Acc {
			t.Errorf("%s: stored %.2f, first run %.2f", c.Recipe, c.Acc, rep.Cells[i].Acc)
		}
	}
	// Other settings make a cell unfinished again.
	cfg.Recipes, cfg.MaxSteps = []string{"fp"}, 6
	third, err := RunAccuracy(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if third.Ran != 1 || len(third.Cells) != 2 || third.Cells[0].Steps != 6 {
		t.Errorf("changed settings: ran %d, cells %+v", third.Ran, third.Cells)
	}
}

func TestCheckOrdering(t *testing.T) {
	cells := func(accs map[string]float64) []Cell {
		var out []Cell
		for r, a := range accs {
			out = append(out, Cell{Recipe: r, Dataset: "mnist", Acc: a})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		accs map[string]float64
		pass bool
		best string // W1A1's recipe
	}{
		{"ordered", map[string]float64{"xnor": 98.3, "bnn": 97, "dorefa-w1a2": 98.8, "lsq-w2a2": 99.0, "lsq-w4a4": 99.1, "fp": 99.2}, true, "xnor"},
		{"W4A4 within FP + 0.3", map[string]float64{"xnor": 98.3, "dorefa-w1a2": 98.8, "lsq-w2a2": 99.0, "lsq-w4a4": 99.45, "fp": 99.2}, true, "xnor"},
		{"W4A4 above FP + 0.3", map[string]float64{"xnor": 98.3, "dorefa-w1a2": 98.8, "lsq-w2a2": 99.0, "lsq-w4a4": 99.6, "fp": 99.2}, false, "xnor"},
		{"W1A1 above W1A2", map[string]float64{"larq-bnn": 98.9, "xnor": 98.3, "dorefa-w1a2": 98.8, "lsq-w2a2": 99.0, "lsq-w4a4": 99.1, "fp": 99.2}, false, "larq-bnn"},
		{"missing class", map[string]float64{"xnor": 98.3, "lsq-w2a2": 99.0, "lsq-w4a4": 99.1, "fp": 99.2}, false, "xnor"},
		{"diverged cell ignored", map[string]float64{"xnor": 98.3, "bnn": math.NaN(), "dorefa-w1a2": 98.8, "lsq-w2a2": 99.0, "lsq-w4a4": 99.1, "fp": 99.2}, true, "xnor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oc := CheckOrdering("mnist", cells(tc.accs))
			if oc.Pass != tc.pass {
				t.Errorf("pass = %v, want %v: %s", oc.Pass, tc.pass, oc)
			}
			if oc.Classes[0].Recipe != tc.best {
				t.Errorf("W1A1 from %s, want %s", oc.Classes[0].Recipe, tc.best)
			}
		})
	}
}

func TestAssignBits(t *testing.T) {
	ls := []LayerSensitivity{
		{Layer: "conv1", Weights: 500, Drop: 2.0},
		{Layer: "conv5", Weights: 25000, Drop: 0.1},
		{Layer: "dense10", Weights: 400000, Drop: 0.3},
		{Layer: "dense13", Weights: 5000, Drop: 1.5},
	}
	for _, tc := range []struct {
		budget   float64
		want     map[string]int
		feasible bool
	}{
		{8, map[string]int{"conv1": 8, "conv5": 8, "dense10": 8, "dense13": 8}, true},
		// dense10 alone (most weights per point lost) brings the average to about 2.4.
		{4, map[string]int{"conv1": 8, "conv5": 8, "dense10": 2, "dense13": 8}, true},
		{2.05, map[string]int{"conv1": 8, "conv5": 2, "dense10": 2, "dense13": 2}, true},
		{2.1, map[string]int{"conv1": 8, "conv5": 2, "dense10": 2, "dense13": 8}, true},
		{1, map[string]int{"conv1": 2, "conv5": 2, "dense10": 2, "dense13": 2}, false},
	} {
		got, avg, ok := assignBits(ls, tc.budget, 2, 8)
		if ok != tc.feasible || (ok && avg > tc.budget) {
			t.Errorf("budget %.1f: average %.3f, feasible %v", tc.budget, avg, ok)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("budget %.1f: %s at %d bits, want %d (%v)", tc.budget, k, got[k], v, got)
			}
		}
	}
}
