package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// A run directory holds one training run:
//
//	runs/lenet5-mnist-xnor-20261204-130501/
//	  model.ckpt      the checkpoint, written after every epoch
//	  best.ckpt       the checkpoint of the best validation accuracy (with -val)
//	  settings.json   the settings used and the command line
//	  metrics.jsonl   one JSON object per logged step and per epoch
//	  metrics.csv     the same rows as CSV
const (
	ckptName     = "model.ckpt"
	bestName     = "best.ckpt"
	settingsName = "settings.json"
)

// checkpointPath turns a verb's CKPT|RUNDIR argument into a checkpoint path:
// a directory stands for its model.ckpt.
func checkpointPath(arg string) (string, error) {
	st, err := os.Stat(arg)
	if err != nil || !st.IsDir() {
		return arg, nil // a missing file is reported by the loader, naming it
	}
	p := filepath.Join(arg, ckptName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: a directory without %s is no run directory", arg, ckptName)
	}
	return p, nil
}

// defaultRunDir is runs/MODEL-DATASET[-RECIPE]-YYYYMMDD-HHMMSS, with -2, -3…
// appended when a run of the same second exists.
func defaultRunDir(cfg recipes.Config, now time.Time) string {
	name := cfg.Model.Name + "-" + cfg.Dataset
	if cfg.Recipe != "" {
		name += "-" + cfg.Recipe
	}
	base := filepath.Join("runs", name+"-"+now.UTC().Format("20060102-150405"))
	dir := base
	for k := 2; exists(dir); k++ {
		dir = fmt.Sprintf("%s-%d", base, k)
	}
	return dir
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runPaths returns the run directory and checkpoint path of a train invocation:
// -o ending in .ckpt names the checkpoint (its directory holds the rest), any
// other -o is the run directory; a resume continues the resumed run.
func runPaths(o, resume string, cfg recipes.Config, now time.Time) (dir, ckpt string) {
	switch {
	case strings.HasSuffix(o, ".ckpt"):
		return filepath.Dir(o), o
	case o != "":
		return o, filepath.Join(o, ckptName)
	case resume != "":
		return filepath.Dir(resume), resume
	}
	dir = defaultRunDir(cfg, now)
	return dir, filepath.Join(dir, ckptName)
}

// checkFresh refuses to start a new run over an existing one unless force is
// set: its checkpoint, and for a run directory its settings.json.
func checkFresh(dir, ckpt string, force bool) error {
	if force {
		return nil
	}
	check := []string{ckpt}
	if filepath.Base(ckpt) == ckptName {
		check = append(check, filepath.Join(dir, settingsName))
	}
	for _, p := range check {
		if exists(p) {
			return usagef("%s exists: a new run never overwrites another; pass -force, -resume %s, or another -o", p, dir)
		}
	}
	return nil
}

// settings is settings.json: the run's settings and the command line.
type settings struct {
	Command   []string          `json:"command"`
	Started   string            `json:"started"`
	Model     string            `json:"model"`
	Spec      json.RawMessage   `json:"spec,omitempty"`
	Recipe    string            `json:"recipe,omitempty"`
	Dataset   string            `json:"dataset"`
	DataDir   string            `json:"data_dir,omitempty"`
	Epochs    int               `json:"epochs"`
	Batch     int               `json:"batch"`
	LR        float32           `json:"lr"`
	Optimizer string            `json:"optimizer"`
	Schedule  string            `json:"schedule"`
	Seed      uint64            `json:"seed"`
	WD        float32           `json:"weight_decay,omitempty"`
	Momentum  float32           `json:"momentum,omitempty"`
	Clip      float32           `json:"latent_clip,omitempty"`
	MaxSteps  int               `json:"max_steps,omitempty"`
	Val       float64           `json:"val,omitempty"`
	Patience  int               `json:"patience,omitempty"`
	Resume    string            `json:"resume,omitempty"`
	Flags     map[string]string `json:"flags"`
}

// writeSettings writes dir/settings.json for cfg.
func writeSettings(dir string, cfg recipes.Config, f *trainFlags, now time.Time) error {
	spec, err := json.Marshal(struct {
		Weights, Inputs string
		Policy, Act     string
		Width           float64
		Hidden          []int
	}{ste.SpecOf(cfg.Model.Weights), ste.SpecOf(cfg.Model.Inputs), string(cfg.Model.Policy), string(cfg.Model.Act), cfg.Model.Width, cfg.Model.Hidden})
	if err != nil {
		return err
	}
	s := settings{
		Command: os.Args, Started: now.UTC().Format(time.RFC3339), Model: cfg.Model.Name, Spec: spec, Recipe: cfg.Recipe,
		Dataset: cfg.Dataset, DataDir: cfg.DataDir, Epochs: cfg.Epochs, Batch: cfg.Batch, LR: cfg.LR, Optimizer: cfg.Optimizer,
		Schedule: string(cfg.Schedule), Seed: cfg.Seed, WD: cfg.Opt.WeightDecay, Momentum: cfg.Opt.Momentum, Clip: cfg.LatentClip,
		MaxSteps: cfg.MaxSteps, Val: f.val, Patience: f.patience, Resume: cfg.Resume, Flags: f.given,
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, settingsName), append(b, '\n'))
}

// readSettings reads a run directory's settings.json (capped at 1 MiB).
func readSettings(dir string) (settings, error) {
	var s settings
	p := filepath.Join(dir, settingsName)
	b, err := readCapped(p, 1<<20)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d", path, st.Size(), limit)
	}
	return os.ReadFile(path)
}
