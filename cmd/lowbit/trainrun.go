package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/recipes"
)

// errEarlyStop ends a run whose validation accuracy stopped improving (-patience).
var errEarlyStop = errors.New("early stop")

// tracking keeps a run's directory: settings.json, the metrics, best.ckpt and
// early stopping. Only rank 0 of a data-parallel run writes.
type tracking struct {
	dir, split string
	f          *trainFlags
	cfg        recipes.Config
	rec        *recorder
	rep        *reporter
	cancel     context.CancelCauseFunc
	write      bool
	wroteSet   bool
	step       uint64
	best       float64 // best validation accuracy (fraction)
	bestEpoch  int
	since      int // epochs since the best
	test       datasets.Dataset
	started    time.Time
}

// startTracking fixes the run directory and checkpoint path of cfg, refuses
// to overwrite another run, carves the -val split, and hooks the metrics into
// cfg's callbacks.
func startTracking(cfg *recipes.Config, f *trainFlags, ck *recipes.Checkpoint, rep *reporter, cancel context.CancelCauseFunc) (*tracking, error) {
	t := &tracking{f: f, rep: rep, cancel: cancel, split: "test", started: time.Now()}
	t.write = cfg.Comm == nil || cfg.Comm.Rank() == 0
	t.dir, cfg.Out = runPaths(f.out, f.resume, *cfg, t.started)
	if cfg.Out != f.resume {
		if err := checkFresh(t.dir, cfg.Out, f.force); err != nil {
			return nil, err
		}
	}
	if err := openSized(cfg, f.size, ck); err != nil {
		return nil, err
	}
	if f.val > 0 {
		if err := t.carveVal(cfg); err != nil {
			return nil, err
		}
	}
	rep.split = t.split
	var step uint64
	if ck != nil {
		step = ck.Step
	}
	var err error
	if t.rec, err = newRecorder(t.dir, t.split, step, ck != nil && cfg.Out == f.resume); err != nil {
		return nil, err
	}
	for _, r := range t.rec.rows {
		if r.Kind == "epoch" && r.EvalSplit == "val" && r.EvalAcc/100 > t.best {
			t.best, t.bestEpoch = r.EvalAcc/100, r.Epoch
		}
	}
	onStep, onEpoch := cfg.OnStep, cfg.OnEpoch
	cfg.OnStep = func(s recipes.StepStats) {
		onStep(s)
		t.rec.step(s)
		t.step = s.Global
	}
	cfg.OnEpoch = func(e recipes.EpochStats) {
		onEpoch(e)
		t.epoch(e)
	}
	t.cfg = *cfg
	return t, nil
}

// carveVal opens the data and replaces its training set by the training and validation parts.
func (t *tracking) carveVal(cfg *recipes.Config) error {
	train, test, err := recipes.OpenData(cfg)
	if err != nil {
		return err
	}
	if cfg.Train, cfg.Test, err = splitVal(train, t.f.val, cfg.Seed); err != nil {
		return err
	}
	t.test, t.split = test, "val"
	return nil
}

// epoch records an epoch, keeps best.ckpt and stops the run early.
func (t *tracking) epoch(e recipes.EpochStats) {
	if !t.write {
		return
	}
	if err := t.writeSettings(); err != nil {
		t.rep.log.Warnf("%s: %v", settingsName, err)
	}
	if err := t.rec.epoch(e, t.step); err != nil {
		t.rep.log.Warnf("metrics: %v", err)
	}
	if t.split != "val" || e.Checkpoint == "" {
		return
	}
	if e.TestAcc > t.best || t.bestEpoch == 0 {
		t.best, t.bestEpoch, t.since = e.TestAcc, e.Epoch, 0
		if err := copyFile(e.Checkpoint, filepath.Join(t.dir, bestName)); err != nil {
			t.rep.log.Warnf("%s: %v", bestName, err)
		}
		return
	}
	t.since++
	if t.f.patience > 0 && t.since >= t.f.patience {
		t.rep.log.Infof("early stop: validation accuracy %.2f%% at epoch %d, not beaten in %d epochs", 100*t.best, t.bestEpoch, t.since)
		t.cancel(errEarlyStop)
	}
}

func (t *tracking) writeSettings() error {
	if t.wroteSet || (t.f.resume != "" && t.cfg.Out == t.f.resume && exists(filepath.Join(t.dir, settingsName))) {
		return nil
	}
	t.wroteSet = true
	return writeSettings(t.dir, t.cfg, t.f, t.started)
}

// finish writes the settings and metrics of a finished run and names its directory.
func (t *tracking) finish(stdout io.Writer) error {
	if !t.write {
		return nil
	}
	if err := t.writeSettings(); err != nil {
		return err
	}
	if err := t.rec.flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run directory %s (%s, %s, %s)\n", t.dir, settingsName, metricsJSONL, metricsCSV)
	return nil
}

// testBest evaluates best.ckpt (with -val) on the test set.
func (t *tracking) testBest(cfg recipes.Config, stdout io.Writer) error {
	if t.test == nil || !t.write {
		return nil
	}
	path := filepath.Join(t.dir, bestName)
	if !exists(path) {
		path = cfg.Out
	}
	ck, err := recipes.LoadCheckpoint(path)
	if err != nil {
		return err
	}
	m, err := ck.Restore()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	acc, _, err := recipes.Evaluate(m, t.test, 500, cfg.Workers, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (epoch %d, validation accuracy %.2f%%): test accuracy %.2f%%\n", path, ck.Epoch, 100*ck.TestAcc, 100*acc)
	return nil
}

// copyFile copies src to dst atomically (a checkpoint is at most a few hundred MiB).
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.Write(dst, b)
}

// openSized opens an image-folder dataset with the ImageNet transforms at
// -size (or, resuming, at the checkpoint's input size). Other datasets have a
// fixed size: -size is a usage error there.
func openSized(cfg *recipes.Config, size int, ck *recipes.Checkpoint) error {
	folder := cfg.Dataset == "imagefolder" || cfg.Dataset == "imagenette"
	if !folder {
		if size > 0 {
			return usagef("-size: %s has a fixed image size; -size is for imagefolder and imagenette", cfg.Dataset)
		}
		return nil
	}
	if size == 0 && ck != nil && len(ck.Model.Input) == 3 {
		size = ck.Model.Input[0]
	}
	if size == 0 {
		return nil // the datasets' default, 224
	}
	tr, ev := datasets.ImageNetTrain(size), datasets.ImageNetEval(size)
	var err error
	if cfg.Train, err = datasets.Open(cfg.Dataset, "train", cfg.DataDir, datasets.Options{Transform: &tr}); err != nil {
		return err
	}
	cfg.Test, err = datasets.Open(cfg.Dataset, "val", cfg.DataDir, datasets.Options{Transform: &ev})
	return err
}
