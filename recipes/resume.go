package recipes

import (
	"fmt"
	"math"
	"slices"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/ste"
)

// OptConfig is the serialisable part of optim.Config, kept in checkpoints.
type OptConfig struct {
	Momentum    float32 `json:"momentum,omitempty"`
	Dampening   float32 `json:"dampening,omitempty"`
	Nesterov    bool    `json:"nesterov,omitempty"`
	WeightDecay float32 `json:"weight_decay,omitempty"`
	DecayAll    bool    `json:"decay_all,omitempty"`
	Beta1       float32 `json:"beta1,omitempty"`
	Beta2       float32 `json:"beta2,omitempty"`
	Eps         float32 `json:"eps,omitempty"`
	Gamma       float32 `json:"gamma,omitempty"`
	Threshold   float32 `json:"threshold,omitempty"`
}

func optConfigOf(c optim.Config) *OptConfig {
	return &OptConfig{c.Momentum, c.Dampening, c.Nesterov, c.WeightDecay, c.DecayAll, c.Beta1, c.Beta2, c.Eps, c.Gamma, c.Threshold}
}

func (o *OptConfig) config() optim.Config {
	return optim.Config{Momentum: o.Momentum, Dampening: o.Dampening, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay,
		DecayAll: o.DecayAll, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, Gamma: o.Gamma, Threshold: o.Threshold}
}

func (c *Config) runConfig() RunConfig {
	return RunConfig{Epochs: c.Epochs, Batch: c.Batch, LR: c.LR, Optimizer: c.Optimizer, Schedule: string(c.Schedule),
		Seed: c.Seed, LatentClip: c.LatentClip, Scaling: c.Scaling.String(),
		FinalLR: c.FinalLR, Warmup: c.Warmup, Opt: optConfigOf(c.Opt), Threads: gemm.Threads()}
}

// Settings returns the run settings c was trained with, as the Config that
// resumes it (without data, paths or callbacks). For a checkpoint of an older
// build, which lacks the optimizer's hyperparameters and the final LR, they
// come from its recipe.
func (c *Checkpoint) Settings() Config {
	rc := c.Config
	sc, _ := datasets.ParseScaling(rc.Scaling) // an unknown name resumes standardised
	s := Config{Model: c.Model, Recipe: c.Recipe, Dataset: c.Dataset, Scaling: sc, Epochs: rc.Epochs, Batch: rc.Batch,
		LR: rc.LR, FinalLR: rc.FinalLR, Optimizer: rc.Optimizer, Schedule: Schedule(rc.Schedule), Warmup: rc.Warmup,
		LatentClip: rc.LatentClip, Seed: rc.Seed}
	if rc.Opt != nil {
		s.Opt = rc.Opt.config()
	} else if r, err := Lookup(c.Recipe); err == nil {
		s.Opt = r.Opt
		if s.FinalLR == 0 {
			s.FinalLR = r.FinalLR
		}
	}
	return s
}

// setting is one run setting compared on resume: the run's value, the
// checkpoint's, and whether the run left it unset (zero).
type setting struct {
	name    string
	run, ck any
	unset   bool
}

// resumeConfig returns the checkpoint's settings with cfg's per-invocation
// fields (data, paths, limits, callbacks). A setting cfg gives that differs
// from the checkpoint's is an error naming it.
func resumeConfig(ck *Checkpoint, cfg Config) (Config, error) {
	s := ck.Settings()
	m, cm := cfg.Model, s.Model
	for _, f := range []setting{
		{"recipe", cfg.Recipe, s.Recipe, cfg.Recipe == ""},
		{"dataset", cfg.Dataset, s.Dataset, cfg.Dataset == ""},
		{"scaling", cfg.Scaling, s.Scaling, cfg.Scaling == datasets.Standardize},
		{"epochs", cfg.Epochs, s.Epochs, cfg.Epochs == 0},
		{"batch", cfg.Batch, s.Batch, cfg.Batch == 0},
		{"lr", cfg.LR, s.LR, cfg.LR == 0},
		{"final lr", cfg.FinalLR, s.FinalLR, cfg.FinalLR == 0},
		{"optimizer", cfg.Optimizer, s.Optimizer, cfg.Optimizer == ""},
		{"schedule", cfg.Schedule, s.Schedule, cfg.Schedule == ""},
		{"warmup", cfg.Warmup, s.Warmup, cfg.Warmup == 0},
		{"latent clip", cfg.LatentClip, s.LatentClip, cfg.LatentClip == 0},
		{"seed", cfg.Seed, s.Seed, cfg.Seed == 0},
		{"model", m.Name, cm.Name, m.Name == ""},
		{"hidden", fmt.Sprint(m.Hidden), fmt.Sprint(cm.Hidden), m.Hidden == nil},
		{"width", widthOf(m.Width), widthOf(cm.Width), m.Width == 0},
		{"weights", ste.SpecOf(m.Weights), ste.SpecOf(cm.Weights), m.Weights == nil},
		{"inputs", ste.SpecOf(m.Inputs), ste.SpecOf(cm.Inputs), m.Inputs == nil},
		{"policy", m.Policy, cm.Policy, m.Policy == ""},
		{"act", m.Act, cm.Act, m.Act == ""},
		{"dropout", m.Dropout, cm.Dropout, m.Dropout == 0},
		{"input shape", fmt.Sprint(m.Input), fmt.Sprint(cm.Input), m.Input == nil},
	} {
		if !f.unset && f.run != f.ck {
			return cfg, fmt.Errorf("recipes: %s: the run sets %s %v, but the checkpoint was trained with %v (a resume keeps every setting)", cfg.Resume, f.name, f.run, f.ck)
		}
	}
	if cfg.Opt != (optim.Config{}) {
		s.Opt = cfg.Opt // the optimizer's spec is compared with the checkpoint's on restore
	}
	s.DataDir, s.Workers, s.EvalBatch, s.Resume, s.Out, s.MaxSteps, s.EvalLimit = cfg.DataDir, cfg.Workers, cfg.EvalBatch, cfg.Resume, cfg.Out, cfg.MaxSteps, cfg.EvalLimit
	s.OnStep, s.OnEpoch, s.Train, s.Test = cfg.OnStep, cfg.OnEpoch, cfg.Train, cfg.Test
	s.Model.Input = slices.Clone(cm.Input)
	return s, nil
}

func widthOf(w float64) float64 {
	if w == 0 {
		return 1
	}
	return w
}

// validate checks the settings after defaults, before any data is read.
func (c *Config) validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("recipes: %s %v: want %s", name, v, want)
	}
	switch {
	case c.Epochs < 1:
		return bad("epochs", c.Epochs, "≥ 1")
	case c.Batch < 1:
		return bad("batch", c.Batch, "≥ 1")
	case c.EvalBatch < 1:
		return bad("eval batch", c.EvalBatch, "≥ 1")
	case c.Workers < 0:
		return bad("workers", c.Workers, "≥ 0")
	case !(c.LR > 0) || !finite(c.LR):
		return bad("lr", c.LR, "a finite value > 0")
	case !(c.FinalLR >= 0) || !finite(c.FinalLR):
		return bad("final lr", c.FinalLR, "a finite value ≥ 0")
	case c.Warmup < 0:
		return bad("warmup", c.Warmup, "≥ 0")
	case !(c.LatentClip >= 0) || !finite(c.LatentClip):
		return bad("latent clip", c.LatentClip, "a finite value ≥ 0 (0: no clipping)")
	case c.MaxSteps < 0:
		return bad("max steps", c.MaxSteps, "≥ 0 (0: no limit)")
	case c.EvalLimit < 0:
		return bad("eval limit", c.EvalLimit, "≥ 0 (0: all)")
	case !(c.Model.Width >= 0) || math.IsInf(c.Model.Width, 0):
		return bad("width", c.Model.Width, "a finite value > 0")
	case !(c.Model.Dropout >= 0 && c.Model.Dropout < 1):
		return bad("dropout", c.Model.Dropout, "in [0, 1)")
	}
	return nil
}
