package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// modelFlags are the flags that describe a model, shared by train and summary.
type modelFlags struct {
	model, weights, inputs, policy, act, hidden string
	width                                       float64
}

func (m *modelFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "model", "lenet5", "model: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&m.weights, "weights", "fp", "weight quantizer, e.g. lsq:bits=4 (known: fp, "+strings.Join(ste.Names(), ", ")+")")
	fs.StringVar(&m.inputs, "inputs", "fp", "input (activation) quantizer, e.g. lsq:bits=4")
	fs.StringVar(&m.policy, "policy", "fp", "first/last layer precision: fp, 8bit, same, same-weights")
	fs.StringVar(&m.act, "act", "", "activation: relu, hardtanh, none (default: hardtanh before sign-like quantizers, else relu)")
	fs.StringVar(&m.hidden, "hidden", "", "MLP hidden widths, e.g. 4096,4096,4096")
	fs.Float64Var(&m.width, "width", 1, "channel width multiplier (e.g. 0.25 for a narrow variant)")
}

// apply overrides spec fields with the flags the user set. A bad value is a usage error naming the flag.
func (m *modelFlags) apply(spec *models.Spec, set map[string]bool) error {
	var err error
	if set["model"] || spec.Name == "" {
		spec.Name = m.model
	}
	if set["weights"] {
		if spec.Weights, err = ste.Parse(m.weights); err != nil {
			return usageErr("-weights", err)
		}
	}
	if set["inputs"] {
		if spec.Inputs, err = ste.Parse(m.inputs); err != nil {
			return usageErr("-inputs", err)
		}
	}
	if set["policy"] {
		spec.Policy = models.Policy(m.policy)
	}
	if set["act"] {
		spec.Act = models.Act(m.act)
	}
	if set["width"] {
		if !(m.width > 0) || math.IsInf(m.width, 0) {
			return usagef("-width: %v is not a finite positive multiplier", m.width)
		}
		spec.Width = m.width
	}
	if set["hidden"] {
		if spec.Hidden, err = parseSizes("-hidden", m.hidden); err != nil {
			return err
		}
	}
	return nil
}

// parseSizes reads a comma-separated list of positive decimal integers
// strictly: "16abc", "0x20" and "1_0" are refused.
func parseSizes(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || strings.ContainsAny(f, "+") {
			return nil, usagef("%s: %q is not a positive decimal integer", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func init() {
	register("train", "train a model (default: LeNet-5 on MNIST)", cmdTrain)
}

// trainFlags holds the values of train's flags and which of them were set.
type trainFlags struct {
	modelFlags
	recipe, setup, dataset, dataDir, opt, sched, out, resume, initFrom, logFormat string
	epochs, batch, workers, maxSteps, threads, patience, size                     int
	lr, wd, momentum, clip, val                                                   float64
	seed                                                                          uint64
	strict, syncBN, force                                                         bool
	config                                                                        string
	override                                                                      map[string]models.LayerQuant // from -config
	set                                                                           map[string]bool
	given                                                                         map[string]string // set flags as typed
}

func (f *trainFlags) add(fs *flag.FlagSet) {
	d := recipes.Defaults()
	f.modelFlags.add(fs)
	fs.StringVar(&f.recipe, "recipe", "", "paper recipe (see 'lowbit recipes'); flags override its settings")
	fs.StringVar(&f.setup, "setup", "", "named training setup: optimizer, lr, schedule, batch and epochs in one (known: "+strings.Join(recipes.Setups(), ", ")+"; see 'lowbit recipes'); flags override its settings")
	fs.StringVar(&f.config, "config", "", "run config file (JSON: recipe, model, data, per-layer \"override\"; 'lowbit sensitivity -budget' writes one); flags override it")
	fs.StringVar(&f.dataset, "dataset", d.Dataset, "dataset: "+strings.Join(datasets.Names(), ", "))
	fs.StringVar(&f.dataDir, "data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	fs.IntVar(&f.size, "size", 0, "image-folder datasets (imagefolder, imagenette): crop side of the ImageNet train/eval transforms (default 224; a resume keeps the checkpoint's)")
	fs.IntVar(&f.epochs, "epochs", d.Epochs, "epochs (the schedule's length)")
	fs.IntVar(&f.batch, "batch", d.Batch, "batch size")
	fs.Float64Var(&f.lr, "lr", float64(d.LR), "learning rate")
	fs.StringVar(&f.opt, "optimizer", d.Optimizer, "optimizer: adam, adamw, sgd, bop")
	fs.Float64Var(&f.wd, "wd", 0, "weight decay (on weights only)")
	fs.Float64Var(&f.momentum, "momentum", defaultMomentum, "SGD momentum")
	fs.StringVar(&f.sched, "schedule", string(d.Schedule), "learning-rate schedule: cosine, constant, step, exponential")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "random seed (init, shuffling, dropout)")
	fs.StringVar(&f.out, "o", "", "run directory (checkpoint model.ckpt, settings.json, metrics), or a checkpoint path ending in .ckpt (default: the -resume run, else runs/MODEL-DATASET[-RECIPE]-YYYYMMDD-HHMMSS)")
	alias(fs, "o", "out")
	fs.BoolVar(&f.force, "force", false, "start a new run even where -o holds a run already (overwriting it)")
	fs.Float64Var(&f.val, "val", 0, "carve this fraction of the training set (seeded by -seed) out as a validation set: epochs report it, best.ckpt keeps the best; the test set is evaluated at the end")
	fs.IntVar(&f.patience, "patience", 0, "with -val: stop after this many epochs without a better validation accuracy (0: never)")
	fs.StringVar(&f.resume, "resume", "", "resume this run directory or checkpoint, with every setting it was trained with")
	fs.StringVar(&f.initFrom, "init-from", "", "initialise from this (full-precision) checkpoint or PyTorch state_dict (.safetensors, .pt): copy its tensors, re-derive quantizer steps (LSQ's recipe)")
	fs.BoolVar(&f.strict, "strict", true, "with -init-from a PyTorch file: fail on missing, unexpected or mis-shaped tensors (false: warn and load the rest)")
	fs.IntVar(&f.workers, "workers", 0, "data loader workers (default GOMAXPROCS)")
	fs.IntVar(&f.maxSteps, "max-steps", 0, "stop after this many steps in all, mid-epoch if need be (0: no limit)")
	fs.Float64Var(&f.clip, "latent-clip", 0, "clip binary latent weights to [-c,c] after each step (0: no clipping)")
	fs.IntVar(&f.threads, "threads", 0, "GEMM threads (default GOMAXPROCS)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&f.syncBN, "sync-bn", false, "data-parallel runs (mpirun, -tags mpi builds): BatchNorm statistics over the global batch")
}

const defaultMomentum = 0.9

func cmdTrain(args []string, stdout io.Writer) error {
	fs := newFlags("train")
	var f trainFlags
	f.add(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (train takes flags only)", pos[0])
	}
	if f.config != "" {
		if f.resume != "" {
			return usagef("-config: a resumed run takes its settings from -resume")
		}
		if f.override, err = applyConfigFile(fs, f.config, setFlags(fs)); err != nil {
			return err
		}
	}
	f.set, f.given = setFlags(fs), map[string]string{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = fl.Value.String() })
	var ck *recipes.Checkpoint
	if f.resume != "" {
		if f.resume, err = checkpointPath(f.resume); err != nil {
			return err
		}
		if ck, err = recipes.LoadCheckpoint(f.resume); err != nil {
			return err
		}
		if s, err := readSettings(filepath.Dir(f.resume)); err == nil {
			f.val, f.patience = cmp(f.val, s.Val), cmp(f.patience, s.Patience) // the run's split and patience
		}
	}
	cfg, err := trainConfig(&f, ck)
	if err != nil {
		return err
	}
	rep, err := newReporter(f.logFormat)
	if err != nil {
		return usageErr("-log-format", err)
	}
	return runTrain(cfg, &f, ck, rep, stdout)
}

// runTrain wires the reporter and the interrupt signal to a run and prints its result.
func runTrain(cfg recipes.Config, f *trainFlags, ck *recipes.Checkpoint, rep *reporter, stdout io.Writer) error {
	if f.threads > 0 {
		gemm.SetThreads(f.threads)
	}
	if w := threadWarning(f.resume, ck, gemm.Threads()); w != "" {
		rep.log.Warn(w)
	}
	cfg.OnStep, cfg.OnEpoch, cfg.SyncBN = rep.step, rep.epoch, f.syncBN
	cfg.OnWarn = func(msg string) { rep.log.Warn(msg) }
	finish, err := joinRanks(&cfg.Comm, cfg.SyncBN, rep, &stdout)
	if err != nil {
		return err
	}
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancelCause(sig)
	defer cancel(nil)
	rep.epochs = cfg.Epochs
	tr, err := startTracking(&cfg, f, ck, rep, cancel)
	if err != nil {
		return err
	}
	rep.log.WithFields(logrus.Fields{
		"model": cfg.Model.String(), "dataset": cfg.Dataset, "epochs": cfg.Epochs, "batch": cfg.Batch,
		"optimizer": cfg.Optimizer, "lr": cfg.LR, "schedule": cfg.Schedule, "seed": cfg.Seed, "recipe": cfg.Recipe,
		"gemm": gemm.Kernel(), "threads": gemm.Threads(), "gomaxprocs": runtime.GOMAXPROCS(0),
	}).Info("training")
	res, err := recipes.Train(ctx, cfg)
	if errors.Is(context.Cause(ctx), errEarlyStop) && res != nil {
		err = nil
	}
	if err = finish(err); err != nil {
		return err
	}
	done := fmt.Sprintf("%d epochs", res.Epochs)
	if res.EpochStep > 0 {
		done += fmt.Sprintf(" and %d steps of epoch %d", res.EpochStep, res.Epochs+1)
	}
	fmt.Fprintf(stdout, "%s on %s: %s accuracy %.2f%% after %s (%d steps, %.1f ms/step); checkpoint %s\n",
		res.Model.Spec.String(), cfg.Dataset, tr.split, 100*res.TestAcc, done, res.Steps, float64(res.StepTime.Microseconds())/1e3, cfg.Out)
	if err := tr.testBest(cfg, stdout); err != nil {
		return err
	}
	return tr.finish(stdout)
}

// threadWarning says when a resume runs GEMM on another thread count than the
// checkpoint's run. Elementwise reductions do not depend on the thread count;
// GEMM's K split does, so the result would differ slightly.
func threadWarning(path string, ck *recipes.Checkpoint, threads int) string {
	if ck == nil || ck.Config.Threads == 0 || ck.Config.Threads == threads {
		return ""
	}
	return fmt.Sprintf("%s was trained with %d GEMM threads, this run uses %d: GEMM sums in a thread-dependent order, so the result will differ slightly from an uninterrupted run (pass -threads %d to match)",
		path, ck.Config.Threads, threads, ck.Config.Threads)
}

// trainConfig turns train's flags into a run, the one place that defines their
// precedence: recipes.Defaults, then the recipe's settings, then the flags the
// user set. With -resume the checkpoint's settings replace the first two, and
// a set flag that contradicts them is a usage error. It does no I/O: the
// checkpoint (nil without -resume) is read by the caller.
func trainConfig(f *trainFlags, ck *recipes.Checkpoint) (recipes.Config, error) {
	if err := f.check(); err != nil {
		return recipes.Config{}, err
	}
	var cfg recipes.Config
	if ck != nil {
		cfg = ck.Settings()
		if err := f.agree(cfg); err != nil {
			return cfg, err
		}
	} else {
		var err error
		if cfg, err = f.base(); err != nil {
			return cfg, err
		}
		if err := f.applySetup(&cfg); err != nil {
			return cfg, err
		}
		if err := f.overlay(&cfg); err != nil {
			return cfg, err
		}
		if cfg.Optimizer == "sgd" && !f.set["momentum"] && cfg.Opt.Momentum == 0 {
			cfg.Opt.Momentum = defaultMomentum
		}
		cfg.Model.Seed, cfg.InitFrom, cfg.InitLenient = cfg.Seed, f.initFrom, !f.strict
	}
	cfg.DataDir, cfg.Resume, cfg.Workers, cfg.MaxSteps = f.dataDir, f.resume, f.workers, f.maxSteps
	return cfg, nil
}

// check refuses flag values that are out of range whatever the recipe.
func (f *trainFlags) check() error {
	type rule struct {
		name string
		bad  bool
		want string
	}
	for _, r := range []rule{
		{"epochs", f.epochs < 1, "≥ 1"},
		{"batch", f.batch < 1, "≥ 1"},
		{"lr", !(f.lr > 0) || math.IsInf(f.lr, 0) || f.lr > math.MaxFloat32, "a finite value > 0"},
		{"wd", !(f.wd >= 0) || math.IsInf(f.wd, 0), "a finite value ≥ 0"},
		{"momentum", !(f.momentum >= 0 && f.momentum < 1), "in [0, 1)"},
		{"latent-clip", !(f.clip >= 0) || math.IsInf(f.clip, 0), "a finite value ≥ 0 (0: no clipping)"},
		{"workers", f.workers < 0, "≥ 0 (0: GOMAXPROCS)"},
		{"max-steps", f.maxSteps < 0, "≥ 0 (0: no limit)"},
		{"threads", f.threads < 0, "≥ 0 (0: GOMAXPROCS)"},
		{"val", !(f.val >= 0 && f.val < 1), "in [0, 1)"},
		{"patience", f.patience < 0, "≥ 0 (0: never stop early)"},
		{"size", f.size < 0 || f.size > 4096, "in [1, 4096] (0: 224)"},
	} {
		if f.set[r.name] && r.bad {
			return usagef("-%s: %s is invalid: want %s", r.name, f.given[r.name], r.want)
		}
	}
	if err := f.checkNames(); err != nil {
		return err
	}
	if f.set["setup"] && f.resume != "" {
		return usagef("-setup: a resumed run keeps the settings it was trained with")
	}
	if f.set["init-from"] && f.resume != "" {
		return usagef("-init-from: a resumed run takes its weights from -resume")
	}
	return nil
}

// checkNames refuses an unknown name in a set flag before any data is read.
func (f *trainFlags) checkNames() error {
	known := func(name string, names []string) error {
		if slices.Contains(names, name) {
			return nil
		}
		return fmt.Errorf("unknown name %q (known: %s)", name, strings.Join(names, ", "))
	}
	for _, c := range []struct {
		name  string
		check func() error
	}{
		{"model", func() error { return models.CheckName(f.model) }},
		{"dataset", func() error { return known(f.dataset, datasets.Names()) }},
		{"optimizer", func() error { return known(f.opt, optim.Names()) }},
		{"schedule", recipes.Schedule(f.sched).Check},
		{"policy", models.Policy(f.policy).Check},
		{"act", models.Act(f.act).Check},
	} {
		if f.set[c.name] {
			if err := c.check(); err != nil {
				return usageErr("-"+c.name, err)
			}
		}
	}
	return nil
}

// base is the run before the set flags: the defaults, overlaid with the recipe's settings.
func (f *trainFlags) base() (recipes.Config, error) {
	d := recipes.Defaults()
	if f.recipe == "" {
		return recipes.Config{Dataset: f.dataset, Model: models.Spec{Name: f.model}, Epochs: d.Epochs, Batch: d.Batch,
			LR: d.LR, Optimizer: d.Optimizer, Schedule: d.Schedule, Seed: d.Seed}, nil
	}
	r, err := recipes.Lookup(f.recipe)
	if err != nil {
		return recipes.Config{}, usageErr("-recipe", err)
	}
	model := ""
	if f.set["model"] {
		model = f.model
	}
	cfg := r.Config(model, f.dataset)
	cfg.Epochs, cfg.Batch, cfg.LR = cmp(cfg.Epochs, d.Epochs), cmp(cfg.Batch, d.Batch), cmp(cfg.LR, d.LR)
	cfg.Optimizer, cfg.Schedule, cfg.Seed = cmp(cfg.Optimizer, d.Optimizer), cmp(cfg.Schedule, d.Schedule), cmp(cfg.Seed, d.Seed)
	return cfg, nil
}

// applySetup replaces cfg's optimizer, schedule, batch and epochs with the
// -setup's (the dataset flag already applied, so the setup can check it).
func (f *trainFlags) applySetup(cfg *recipes.Config) error {
	if f.setup == "" {
		return nil
	}
	s, err := recipes.LookupSetup(f.setup)
	if err != nil {
		return usageErr("-setup", err)
	}
	c := *cfg
	if f.set["dataset"] {
		c.Dataset = f.dataset
	}
	if err := s.Apply(&c); err != nil {
		return usageErr("-setup", err)
	}
	*cfg = c
	return nil
}

// cmp returns v, or d when v is zero.
func cmp[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// overlay applies the flags the user set to cfg.
func (f *trainFlags) overlay(cfg *recipes.Config) error {
	if err := f.modelFlags.apply(&cfg.Model, f.set); err != nil {
		return err
	}
	s := f.set
	if f.override != nil {
		cfg.Model.Override = f.override
	}
	if s["dataset"] {
		cfg.Dataset = f.dataset
	}
	if s["epochs"] {
		cfg.Epochs = f.epochs
	}
	if s["batch"] {
		cfg.Batch = f.batch
	}
	if s["lr"] {
		cfg.LR = float32(f.lr)
	}
	if s["optimizer"] {
		cfg.Optimizer = f.opt
	}
	if s["schedule"] {
		cfg.Schedule = recipes.Schedule(f.sched)
	}
	if s["wd"] {
		cfg.Opt.WeightDecay = float32(f.wd)
	}
	if s["momentum"] {
		cfg.Opt.Momentum = float32(f.momentum)
	}
	if s["latent-clip"] {
		cfg.LatentClip = float32(f.clip)
	}
	if s["seed"] {
		cfg.Seed = f.seed
	}
	return nil
}

// agree checks that the flags set with -resume repeat the checkpoint's settings.
func (f *trainFlags) agree(ck recipes.Config) error {
	for name := range f.set {
		switch name {
		case "data", "o", "out", "resume", "workers", "max-steps", "threads", "log-format", "force", "val", "patience", "config", "size":
			continue // per invocation, not a run setting
		case "recipe":
			if f.recipe != ck.Recipe {
				return usagef("-recipe %s contradicts %s, trained with recipe %q; a resume keeps every setting", f.recipe, f.resume, ck.Recipe)
			}
			continue
		}
		cfg := ck
		one := *f
		one.set = map[string]bool{name: true}
		if err := one.overlay(&cfg); err != nil {
			return err
		}
		if cfg.Model.Width == 1 && ck.Model.Width == 0 {
			cfg.Model.Width = 0 // 0 means 1
		}
		if cfg.Model.Policy == models.FP && ck.Model.Policy == "" {
			cfg.Model.Policy = "" // "" means fp
		}
		if !reflect.DeepEqual(cfg, ck) {
			return usagef("-%s %s contradicts %s, which was trained with %s; a resume keeps every setting, so drop the flag or start a new run", name, f.given[name], f.resume, describe(name, ck))
		}
	}
	return nil
}

// describe names the checkpoint's value of the setting behind flag name.
func describe(name string, c recipes.Config) string {
	v := map[string]any{"epochs": c.Epochs, "batch": c.Batch, "lr": c.LR, "optimizer": c.Optimizer, "schedule": c.Schedule,
		"seed": c.Seed, "latent-clip": c.LatentClip, "wd": c.Opt.WeightDecay, "momentum": c.Opt.Momentum, "dataset": c.Dataset,
		"model": c.Model.Name, "hidden": c.Model.Hidden, "width": c.Model.Width, "weights": ste.SpecOf(c.Model.Weights),
		"inputs": ste.SpecOf(c.Model.Inputs), "policy": c.Model.Policy, "act": c.Model.Act}[name]
	return fmt.Sprintf("%s %v", name, v)
}

// usageError is a bad command line: the CLI exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func usageErr(flagName string, err error) error {
	return usageError{fmt.Errorf("%s: %w", flagName, err)}
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}
