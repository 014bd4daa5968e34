package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

func TestRunPaths(t *testing.T) {
	now := time.Date(2026, 12, 4, 13, 5, 1, 0, time.UTC)
	cfg := recipes.Config{Model: models.Spec{Name: "lenet5"}, Dataset: "mnist", Recipe: "xnor"}
	for _, tc := range []struct {
		name, o, resume string
		cfg             recipes.Config
		dir, ckpt       string
	}{
		{"default with recipe", "", "", cfg, "runs/lenet5-mnist-xnor-20261204-130501", "runs/lenet5-mnist-xnor-20261204-130501/model.ckpt"},
		{"default without recipe", "", "", recipes.Config{Model: models.Spec{Name: "mlp"}, Dataset: "cifar10"}, "runs/mlp-cifar10-20261204-130501", "runs/mlp-cifar10-20261204-130501/model.ckpt"},
		{"-o directory", "out/r1", "", cfg, "out/r1", "out/r1/model.ckpt"},
		{"-o checkpoint", "out/x.ckpt", "", cfg, "out", "out/x.ckpt"},
		{"resume", "", "runs/a/model.ckpt", cfg, "runs/a", "runs/a/model.ckpt"},
		{"resume to another -o", "runs/b", "runs/a/model.ckpt", cfg, "runs/b", "runs/b/model.ckpt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, ckpt := runPaths(tc.o, tc.resume, tc.cfg, now)
			if dir != filepath.FromSlash(tc.dir) || ckpt != filepath.FromSlash(tc.ckpt) {
				t.Errorf("runPaths = %q, %q; want %q, %q", dir, ckpt, tc.dir, tc.ckpt)
			}
		})
	}
}

func TestDefaultRunDirCounter(t *testing.T) {
	t.Chdir(t.TempDir())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := recipes.Config{Model: models.Spec{Name: "mlp"}, Dataset: "mnist"}
	want := []string{"runs/mlp-mnist-20260102-030405", "runs/mlp-mnist-20260102-030405-2", "runs/mlp-mnist-20260102-030405-3"}
	for _, w := range want {
		d := defaultRunDir(cfg, now)
		if d != filepath.FromSlash(w) {
			t.Fatalf("defaultRunDir = %q, want %q", d, w)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckpointPath(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, ckptName), []byte("x"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	for _, tc := range []struct {
		arg, want, err string
	}{
		{run, filepath.Join(run, ckptName), ""},
		{filepath.Join(dir, "a.ckpt"), filepath.Join(dir, "a.ckpt"), ""},
		{empty, "", "no run directory"},
	} {
		got, err := checkpointPath(tc.arg)
		if (err != nil) != (tc.err != "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || got != tc.want {
			t.Errorf("checkpointPath(%q) = %q, %v; want %q, %q", tc.arg, got, err, tc.want, tc.err)
		}
	}
}

// fakeSet is a dataset of n examples whose label is the index mod 10.
type fakeSet struct{ n int }

func (f fakeSet) Len() int               { return f.n }
func (f fakeSet) Shape() (int, int, int) { return 1, 1, 1 }
func (f fakeSet) NumClasses() int        { return 10 }
func (f fakeSet) ClassNames() []string {
	return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
}
func (f fakeSet) Example(i int, x []float32, _ *rand.Rand) (int, error) {
	x[0] = float32(i)
	return i % 10, nil
}

func TestSplitVal(t *testing.T) {
	ds := fakeSet{1000}
	for _, tc := range []struct {
		frac    float64
		nVal    int
		wantErr bool
	}{{0.1, 100, false}, {0.5, 500, false}, {0.0001, 0, true}, {0.9999, 999, false}} {
		tr, va, err := splitVal(ds, tc.frac, 7)
		if tc.wantErr {
			if err == nil || !isUsage(err) {
				t.Errorf("-val %v: err %v, want a usage error", tc.frac, err)
			}
			continue
		}
		if err != nil || va.Len() != tc.nVal || tr.Len() != 1000-tc.nVal {
			t.Fatalf("-val %v: %v, sizes %d/%d", tc.frac, err, tr.Len(), va.Len())
		}
		seen := map[float32]bool{}
		x := make([]float32, 1)
		for _, d := range []datasets.Dataset{tr, va} {
			for i := range d.Len() {
				d.Example(i, x, nil)
				if seen[x[0]] {
					t.Fatalf("example %v in both splits", x[0])
				}
				seen[x[0]] = true
			}
		}
		if _, ok := va.(interface{ ClassNames() []string }); !ok {
			t.Error("the validation split lost the class names")
		}
		_, va2, _ := splitVal(ds, tc.frac, 7)
		_, va3, _ := splitVal(ds, tc.frac, 8)
		va2.Example(0, x, nil)
		a := x[0]
		va.Example(0, x, nil)
		if a != x[0] {
			t.Error("same seed, different split")
		}
		if tc.frac == 0.1 {
			same := true
			y := make([]float32, 1)
			for i := range va.Len() {
				va.Example(i, x, nil)
				va3.Example(i, y, nil)
				same = same && x[0] == y[0]
			}
			if same {
				t.Error("seeds 7 and 8 give the same split")
			}
		}
	}
}

// TestTrackingBestAndEarlyStop feeds epochs to tracking: best.ckpt follows the
// best validation accuracy, and -patience 2 cancels after two epochs without one.
func TestTrackingBestAndEarlyStop(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, ckptName)
	log := logrus.New()
	log.SetOutput(&bytes.Buffer{})
	ctx, cancel := context.WithCancelCause(context.Background())
	tr := &tracking{dir: dir, split: "val", f: &trainFlags{patience: 2, given: map[string]string{}}, rec: &recorder{dir: dir, split: "val"},
		rep: &reporter{log: log}, cancel: cancel, write: true, cfg: recipes.Config{Model: models.Spec{Name: "mlp"}, Dataset: "mnist", Out: ckpt}}
	for i, acc := range []float64{0.5, 0.7, 0.6, 0.69, 0.8} {
		os.WriteFile(ckpt, []byte{byte('a' + i)}, 0o644)
		tr.step = uint64(10 * (i + 1))
		tr.epoch(recipes.EpochStats{Epoch: i + 1, Epochs: 5, TestAcc: acc, Checkpoint: ckpt})
		best, _ := os.ReadFile(filepath.Join(dir, bestName))
		want := map[int]string{0: "a", 1: "b", 2: "b", 3: "b"}[i]
		if i < 4 && string(best) != want {
			t.Errorf("epoch %d: best.ckpt holds %q, want %q", i+1, best, want)
		}
		if stopped := errors.Is(context.Cause(ctx), errEarlyStop); stopped != (i >= 3) {
			t.Errorf("epoch %d: stopped %v", i+1, stopped)
		}
		if i == 3 {
			break
		}
	}
	rows, err := readMetrics(filepath.Join(dir, metricsJSONL))
	if err != nil || len(rows) != 4 || rows[1].EvalAcc != 70 || rows[1].EvalSplit != "val" || rows[3].Step != 40 {
		t.Fatalf("metrics.jsonl: %v %+v", err, rows)
	}
	f, _ := os.Open(filepath.Join(dir, metricsCSV))
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 5 || recs[0][10] != "eval_acc" || recs[2][10] != "70" {
		t.Fatalf("metrics.csv: %v %q", err, recs)
	}
	if _, err := readSettings(dir); err != nil {
		t.Fatalf("settings.json: %v", err)
	}
}

// TestRunDirectoryCLI trains into a run directory, refuses to overwrite it,
// resumes it, evaluates, exports and plots it by its directory.
func TestRunDirectoryCLI(t *testing.T) {
	requireMNIST(t)
	dir := filepath.Join(t.TempDir(), "r1")
	train := []string{"train", "-model", "mlp", "-hidden", "16", "-batch", "256", "-epochs", "1", "-max-steps", "6", "-log-format", "json", "-o", dir}
	if code, out, errs := runCLI(train...); code != 0 || !strings.Contains(out, "run directory "+dir) {
		t.Fatalf("train: exit %d %q %q", code, out, errs)
	}
	for _, f := range []string{ckptName, settingsName, metricsJSONL, metricsCSV} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if code, _, errs := runCLI(train...); code != 2 || !strings.Contains(errs, "-force") {
		t.Errorf("second run into %s: exit %d %q, want 2 naming -force", dir, code, errs)
	}
	if code, _, errs := runCLI("train", "-resume", dir, "-max-steps", "9", "-log-format", "json"); code != 0 {
		t.Fatalf("resume: exit %d %q", code, errs)
	}
	rows, err := readMetrics(filepath.Join(dir, metricsJSONL))
	steps := 0
	for _, r := range rows {
		if r.Kind == "step" {
			steps++
			if r.Step != uint64(steps) {
				t.Fatalf("step row %d has step %d", steps, r.Step)
			}
		}
	}
	if err != nil || steps != 9 {
		t.Fatalf("metrics after resume: %v, %d step rows, want 9", err, steps)
	}
	if code, out, errs := runCLI("eval", "-limit", "100", dir); code != 0 || !strings.Contains(out, "test accuracy") {
		t.Errorf("eval DIR: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI("export", dir); code != 0 {
		t.Errorf("export DIR: exit %d %q", code, errs)
	} else if _, err := os.Stat(filepath.Join(dir, "model.lbq")); err != nil {
		t.Errorf("export DIR: %v", err)
	}
	png := filepath.Join(dir, "curves.png")
	if code, _, errs := runCLI("plot", dir); code != 0 {
		t.Errorf("plot: exit %d %q", code, errs)
	} else if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("plot wrote no PNG: %v", err)
	}
	if code, _, errs := runCLI(append(train, "-force")...); code != 0 {
		t.Errorf("-force: exit %d %q", code, errs)
	}
}

// TestTrainSize: -size sets the crop of image-folder data (the model's input),
// a resume keeps it, and -size on a fixed-size dataset is a usage error.
func TestTrainSize(t *testing.T) {
	data := filepath.Join(t.TempDir(), "folder")
	writeImageFolder(t, data, 8)
	run := filepath.Join(t.TempDir(), "run")
	for _, tc := range []struct {
		name string
		args []string
		code int
		size int
	}{
		{"-size 16", []string{"train", "-dataset", "imagefolder", "-data", data, "-size", "16", "-model", "mlp", "-hidden", "8", "-batch", "2", "-epochs", "2", "-max-steps", "2", "-o", run}, 0, 16},
		{"resume keeps it", []string{"train", "-resume", run, "-data", data, "-max-steps", "3"}, 0, 16},
		{"mnist has a fixed size", []string{"train", "-size", "16", "-max-steps", "1"}, 2, 0},
		{"negative", []string{"train", "-size", "-1"}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(append(tc.args, "-log-format", "json")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s %s", code, tc.code, out, errs)
			}
			if tc.size == 0 {
				if !strings.Contains(errs, "-size") {
					t.Errorf("error %q does not name -size", errs)
				}
				return
			}
			ck, err := recipes.LoadCheckpoint(filepath.Join(run, ckptName))
			if err != nil || ck.Model.Input[0] != tc.size || ck.Model.Input[1] != tc.size {
				t.Errorf("checkpoint input %v (%v), want %d×%d", ck.Model.Input, err, tc.size, tc.size)
			}
		})
	}
}
