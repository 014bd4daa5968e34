package recipes

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// TestTrainRefusesBadConfig: invalid settings are refused before any data is
// opened (the dataset name here does not exist) or any epoch runs.
func TestTrainRefusesBadConfig(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
	}{
		{"epochs", func(c *Config) { c.Epochs = -1 }},
		{"batch", func(c *Config) { c.Batch = -64 }},
		{"eval batch", func(c *Config) { c.EvalBatch = -1 }},
		{"workers", func(c *Config) { c.Workers = -1 }},
		{"lr", func(c *Config) { c.LR = nan }},
		{"lr", func(c *Config) { c.LR = -1e-3 }},
		{"lr", func(c *Config) { c.LR = float32(math.Inf(1)) }},
		{"final lr", func(c *Config) { c.FinalLR = nan }},
		{"warmup", func(c *Config) { c.Warmup = -1 }},
		{"latent clip", func(c *Config) { c.LatentClip = nan }},
		{"latent clip", func(c *Config) { c.LatentClip = -1 }},
		{"max steps", func(c *Config) { c.MaxSteps = -1 }},
		{"eval limit", func(c *Config) { c.EvalLimit = -1 }},
		{"width", func(c *Config) { c.Model.Width = math.NaN() }},
		{"width", func(c *Config) { c.Model.Width = math.Inf(1) }},
		{"width", func(c *Config) { c.Model.Width = -0.5 }},
		{"dropout", func(c *Config) { c.Model.Dropout = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Dataset: "no-such-dataset", Model: models.Spec{Name: "lenet5"}}
			tc.mod(&cfg)
			_, err := Train(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.name) || strings.Contains(err.Error(), "no-such-dataset") {
				t.Fatalf("err = %v, want one naming %q before the data", err, tc.name)
			}
		})
	}
}

// TestTrainChecksOutFirst: an output path that cannot be written fails before
// the data is opened, not after an epoch.
func TestTrainChecksOutFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	outs := []string{filepath.Join(file, "run.ckpt"), dir}
	if os.Geteuid() != 0 { // root writes into read-only directories
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		outs = append(outs, filepath.Join(ro, "run.ckpt"))
	}
	for _, out := range outs {
		_, err := Train(context.Background(), Config{Dataset: "no-such-dataset", Out: out})
		if err == nil || !strings.Contains(err.Error(), out) || strings.Contains(err.Error(), "no-such-dataset") {
			t.Errorf("out %s: err = %v, want one naming the path, before the data", out, err)
		}
	}
}

// TestTrainNothingIsAnError: too few examples for one batch, a finished run
// resumed, and a step limit already reached are errors, and write nothing.
func TestTrainNothingIsAnError(t *testing.T) {
	train, test := mnist(t, 512, 64)
	dir := t.TempDir()
	out := filepath.Join(dir, "six.ckpt")
	_, err := Train(context.Background(), Config{Model: models.Spec{Name: "mlp", Hidden: []int{8}}, Train: subset{train, 6}, Test: test, Batch: 64, Out: out})
	if !errors.Is(err, ErrNothingToTrain) || !strings.Contains(err.Error(), "6 examples") {
		t.Errorf("6 examples, batch 64: err = %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a checkpoint was written for a run that trained nothing")
	}
	done := filepath.Join(dir, "done.ckpt")
	if _, err := Train(context.Background(), Config{Model: models.Spec{Name: "mlp", Hidden: []int{8}}, Train: train, Test: test, Epochs: 1, Out: done}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(done)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Resume: done, Out: done, Train: train, Test: test}, "already finished all 1 epochs"},
		{Config{Resume: done, Out: done, Train: train, Test: test, MaxSteps: 3}, "already finished"},
	} {
		_, err := Train(context.Background(), tc.cfg)
		if !errors.Is(err, ErrNothingToTrain) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want ErrNothingToTrain saying %q", err, tc.want)
		}
	}
	if after, _ := os.ReadFile(done); string(after) != string(before) {
		t.Error("the finished checkpoint was rewritten")
	}
}

// TestNonFiniteModelNotSaved: weights that overflow, or statistics that do, stop
// the run with an error naming a tensor or the loss; nothing is saved, and the
// last good checkpoint named is one that loads.
func TestNonFiniteModelNotSaved(t *testing.T) {
	train, test := mnist(t, 512, 64)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.ckpt")
	os.WriteFile(junk, []byte("not a checkpoint"), 0o644)
	for _, cfg := range []Config{
		{LR: 1e30, MaxSteps: 1},
		{LR: 1e4, Optimizer: "sgd", Epochs: 1},
	} {
		cfg.Model, cfg.Train, cfg.Test, cfg.Batch, cfg.Out = models.Spec{Name: "lenet5"}, train, test, 32, junk
		_, err := Train(context.Background(), cfg)
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("lr %g: err = %v, want ErrNonFinite", cfg.LR, err)
		}
		if !strings.Contains(err.Error(), "last good checkpoint: none") {
			t.Errorf("lr %g: %v: names a checkpoint this run never wrote", cfg.LR, err)
		}
		if b, _ := os.ReadFile(junk); string(b) != "not a checkpoint" {
			t.Errorf("lr %g: a non-finite model was saved", cfg.LR)
		}
	}
	m, err := models.New(models.Spec{Name: "lenet5", Input: []int{28, 28, 1}, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckOutputFinite(m); err != nil {
		t.Fatalf("a fresh model: %v", err)
	}
	for _, s := range m.States() {
		if strings.HasSuffix(s.Name, "running_var") {
			s.Data[1] = float32(math.Inf(1))
			if s.Push != nil {
				s.Push()
			}
			break
		}
	}
	if err := checkModelFinite(m); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "running_var[1]") {
		t.Errorf("Inf BN variance: err = %v, want one naming the tensor", err)
	}
}

// TestNonFiniteCheckpointRefused: LoadInto (eval, export, resume) refuses a
// checkpoint holding a NaN, and CheckOutputFinite one whose finite weights are absurd.
func TestNonFiniteCheckpointRefused(t *testing.T) {
	train, test := mnist(t, 256, 64)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if _, err := Train(context.Background(), Config{Model: models.Spec{Name: "lenet5"}, Train: train, Test: test, Epochs: 1, Batch: 32, Out: path}); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	ck.Data[0][3] = float32(math.NaN())
	if _, err := ck.Restore(); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), ck.Tensors[0].Name) {
		t.Errorf("NaN weight: Restore err = %v", err)
	}
	ck.Data[0][3] = 0
	for i, ti := range ck.Tensors {
		if !strings.Contains(ti.Name, "running") { // what one SGD step at lr 1e30 does
			for j := range ck.Data[i] {
				ck.Data[i][j] *= 1e30
			}
		}
	}
	m, err := ck.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckOutputFinite(m); !errors.Is(err, ErrNonFinite) {
		t.Errorf("1e30 weights: CheckOutputFinite = %v, want ErrNonFinite", err)
	}
}

// TestResumeKeepsRun: a run stopped mid-epoch by MaxSteps and resumed with only
// the checkpoint path (no model, seed, recipe, clip, schedule or batch) ends bit
// for bit where the uninterrupted run does.
func TestResumeKeepsRun(t *testing.T) {
	train, test := mnist(t, 640, 64)
	dir := t.TempDir()
	base := Config{
		Model:  models.Spec{Name: "mlp", Hidden: []int{32}, Weights: ste.Sign{}, Inputs: ste.Sign{}, Policy: models.SameWeights},
		Recipe: "bnn", LatentClip: 1, Seed: 9, Epochs: 2, Batch: 32, LR: 5e-3, Schedule: StepDecay, Warmup: 3,
		Train: train, Test: test,
	}
	straight := base
	straight.Out = filepath.Join(dir, "straight.ckpt")
	if _, err := Train(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	stopped := base
	stopped.Out, stopped.MaxSteps = filepath.Join(dir, "resumed.ckpt"), 7 // 20 steps per epoch
	res, err := Train(context.Background(), stopped)
	if err != nil || res.Steps != 7 {
		t.Fatalf("stopped run: %v, %v", res, err)
	}
	c, err := LoadCheckpoint(stopped.Out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Epoch != 0 || c.EpochStep != 7 || c.Step != 7 {
		t.Fatalf("mid-epoch checkpoint: epoch %d, epoch step %d, step %d; want 0, 7, 7", c.Epoch, c.EpochStep, c.Step)
	}
	for _, cut := range []int{27, 0} { // mid epoch 2, then to the end
		r := Config{Resume: stopped.Out, Out: stopped.Out, Train: train, Test: test, MaxSteps: cut, Workers: 2}
		if _, err := Train(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	a, b := ckptBits(t, straight.Out), ckptBits(t, stopped.Out)
	for name, va := range a {
		for i := range va {
			if va[i] != b[name][i] {
				t.Fatalf("%s[%d]: straight %g, resumed %g", name, i, math.Float32frombits(va[i]), math.Float32frombits(b[name][i]))
			}
		}
	}
	c, _ = LoadCheckpoint(stopped.Out)
	if s := c.Settings(); s.Recipe != "bnn" || s.LatentClip != 1 || s.Seed != 9 || s.Schedule != StepDecay || s.Warmup != 3 || s.Epochs != 2 {
		t.Errorf("settings after the resumes: recipe %q clip %v seed %d schedule %s warmup %d epochs %d", s.Recipe, s.LatentClip, s.Seed, s.Schedule, s.Warmup, s.Epochs)
	}
}

// TestResumeContradiction: a setting that differs from the checkpoint's is an
// error naming it; the schedule's total (epochs) is one of them.
func TestResumeContradiction(t *testing.T) {
	train, test := mnist(t, 256, 64)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	base := Config{Model: models.Spec{Name: "mlp", Hidden: []int{16}}, Train: train, Test: test, Epochs: 2, Batch: 32, Seed: 4, Out: path, MaxSteps: 3}
	if _, err := Train(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
	}{
		{"seed", func(c *Config) { c.Seed = 5 }},
		{"epochs", func(c *Config) { c.Epochs = 4 }},
		{"batch", func(c *Config) { c.Batch = 64 }},
		{"lr", func(c *Config) { c.LR = 0.1 }},
		{"recipe", func(c *Config) { c.Recipe = "bnn" }},
		{"latent clip", func(c *Config) { c.LatentClip = 1 }},
		{"model", func(c *Config) { c.Model.Name = "lenet5" }},
		{"hidden", func(c *Config) { c.Model.Hidden = []int{8} }},
		{"weights", func(c *Config) { c.Model.Weights = ste.Sign{} }},
		{"schedule", func(c *Config) { c.Schedule = Constant }},
	} {
		cfg := Config{Resume: path, Out: path, Train: train, Test: test}
		tc.mod(&cfg)
		if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: err = %v, want one naming it", tc.name, err)
		}
	}
	same := Config{Resume: path, Out: path, Train: train, Test: test, Seed: 4, Epochs: 2, Batch: 32, MaxSteps: 4}
	if _, err := Train(context.Background(), same); err != nil {
		t.Errorf("repeating the settings: %v", err)
	}
}

// TestOldCheckpointResumes: a checkpoint without the fields added since (optimizer
// config, final LR, threads, epoch step) still resumes.
func TestOldCheckpointResumes(t *testing.T) {
	train, test := mnist(t, 256, 64)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if _, err := Train(context.Background(), Config{Model: models.Spec{Name: "mlp", Hidden: []int{16}}, Train: train, Test: test, Epochs: 2, Batch: 32, Out: path, MaxSteps: 8}); err != nil {
		t.Fatal(err)
	}
	ck, _ := LoadCheckpoint(path)
	ck.Config.Opt, ck.Config.FinalLR, ck.Config.Threads, ck.Config.Warmup = nil, 0, 0, 0
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}
	if res, err := Train(context.Background(), Config{Resume: path, Out: path, Train: train, Test: test}); err != nil || res.Epochs != 2 {
		t.Fatalf("resume of an old-format checkpoint: %v, %v", res, err)
	}
}

// TestStaleTempFilesCleaned: temp files of killed checkpoint writes are removed
// by the next run; the checkpoint is created 0644 less the umask.
func TestStaleTempFilesCleaned(t *testing.T) {
	train, test := mnist(t, 256, 64)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.ckpt")
	stale := filepath.Join(dir, ".m.ckpt.tmp123456")
	other := filepath.Join(dir, ".other.ckpt.tmp1")
	os.WriteFile(stale, []byte("half a checkpoint"), 0o600)
	os.WriteFile(other, []byte("another run's"), 0o600)
	if _, err := Train(context.Background(), Config{Model: models.Spec{Name: "mlp", Hidden: []int{8}}, Train: train, Test: test, Epochs: 1, Out: out, MaxSteps: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale temp file is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("another path's temp file was removed")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm()&0o044 == 0 {
		t.Errorf("checkpoint mode %v (%v): want group/other readable under the usual umask", fi.Mode(), err)
	}
}
