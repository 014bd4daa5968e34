package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/models"
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

// apply overrides spec fields with the flags the user set.
func (m *modelFlags) apply(spec *models.Spec, set map[string]bool) error {
	var err error
	if set["model"] || spec.Name == "" {
		spec.Name = m.model
	}
	if set["weights"] {
		if spec.Weights, err = ste.Parse(m.weights); err != nil {
			return fmt.Errorf("-weights: %w", err)
		}
	}
	if set["inputs"] {
		if spec.Inputs, err = ste.Parse(m.inputs); err != nil {
			return fmt.Errorf("-inputs: %w", err)
		}
	}
	if set["policy"] {
		spec.Policy = models.Policy(m.policy)
	}
	if set["act"] {
		spec.Act = models.Act(m.act)
	}
	if set["width"] {
		if m.width <= 0 {
			return fmt.Errorf("-width: %v is not positive", m.width)
		}
		spec.Width = m.width
	}
	if m.hidden != "" {
		spec.Hidden = nil
		for _, f := range strings.Split(m.hidden, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
				return fmt.Errorf("-hidden: %q is not a positive width", f)
			}
			spec.Hidden = append(spec.Hidden, n)
		}
	}
	return nil
}

func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func init() {
	register("train", "train a model (default: LeNet-5 on MNIST)", cmdTrain)
}

func cmdTrain(args []string, stdout io.Writer) error {
	fs := newFlags("train")
	var mf modelFlags
	mf.add(fs)
	recipe := fs.String("recipe", "", "paper recipe (see 'lowbit recipes'); flags override its scalars")
	dataset := fs.String("dataset", "mnist", "dataset: "+strings.Join(datasets.Names(), ", "))
	dataDir := fs.String("data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	epochs := fs.Int("epochs", 3, "epochs")
	batch := fs.Int("batch", 64, "batch size")
	lr := fs.Float64("lr", 1e-3, "learning rate")
	opt := fs.String("optimizer", "adam", "optimizer: adam, adamw, sgd, bop")
	wd := fs.Float64("wd", 0, "weight decay (on weights only)")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	sched := fs.String("schedule", "cosine", "learning-rate schedule: cosine, constant, step, exponential")
	seed := fs.Uint64("seed", 1, "random seed (init, shuffling, dropout)")
	out := fs.String("out", "", "checkpoint path, written after every epoch (default runs/MODEL-DATASET.ckpt)")
	resume := fs.String("resume", "", "resume from this checkpoint")
	initFrom := fs.String("init-from", "", "initialise from this (full-precision) checkpoint: copy matching tensors, re-derive quantizer steps (LSQ's recipe)")
	workers := fs.Int("workers", 0, "data loader workers (default GOMAXPROCS)")
	maxSteps := fs.Int("max-steps", 0, "stop after this many steps (0: no limit)")
	clip := fs.Float64("latent-clip", 0, "clip binary latent weights to [-c,c] after each step")
	threads := fs.Int("threads", 0, "GEMM threads (default GOMAXPROCS)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	syncBN := fs.Bool("sync-bn", false, "data-parallel runs (mpirun, -tags mpi builds): BatchNorm statistics over the global batch")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	set := setFlags(fs)
	rep, err := newReporter(*logFormat)
	if err != nil {
		return err
	}
	var cfg recipes.Config
	if *recipe != "" {
		r, err := recipes.Lookup(*recipe)
		if err != nil {
			return err
		}
		model := ""
		if set["model"] {
			model = mf.model
		}
		cfg = r.Config(model, *dataset)
	} else {
		cfg = recipes.Config{Dataset: *dataset, Model: models.Spec{Name: mf.model}}
		for _, f := range []string{"epochs", "batch", "lr", "optimizer", "schedule"} {
			set[f] = true
		}
	}
	if err := mf.apply(&cfg.Model, set); err != nil {
		return err
	}
	cfg.Dataset, cfg.DataDir, cfg.Resume, cfg.Workers, cfg.MaxSteps = *dataset, *dataDir, *resume, *workers, *maxSteps
	cfg.InitFrom = *initFrom
	if set["epochs"] {
		cfg.Epochs = *epochs
	}
	if set["batch"] {
		cfg.Batch = *batch
	}
	if set["lr"] {
		cfg.LR = float32(*lr)
	}
	if set["optimizer"] {
		cfg.Optimizer = *opt
	}
	if set["schedule"] {
		cfg.Schedule = recipes.Schedule(*sched)
	}
	if set["wd"] {
		cfg.Opt.WeightDecay = float32(*wd)
	}
	if set["momentum"] || cfg.Optimizer == "sgd" && cfg.Opt.Momentum == 0 {
		cfg.Opt.Momentum = float32(*momentum)
	}
	if set["latent-clip"] {
		cfg.LatentClip = float32(*clip)
	}
	if set["seed"] || *recipe == "" {
		cfg.Seed = *seed
	}
	cfg.Model.Seed = cfg.Seed
	if *threads > 0 {
		gemm.SetThreads(*threads)
	}
	cfg.Out = *out
	if cfg.Out == "" {
		cfg.Out = fmt.Sprintf("runs/%s-%s.ckpt", cfg.Model.Name, cfg.Dataset)
		if cfg.Recipe != "" {
			cfg.Out = fmt.Sprintf("runs/%s-%s-%s.ckpt", cfg.Recipe, cfg.Model.Name, cfg.Dataset)
		}
	}
	cfg.OnStep = rep.step
	cfg.OnEpoch = rep.epoch
	cfg.SyncBN = *syncBN
	finish, err := joinRanks(&cfg.Comm, cfg.SyncBN, rep, &stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep.log.WithFields(logrus.Fields{
		"model": cfg.Model.String(), "dataset": cfg.Dataset, "epochs": cfg.Epochs, "batch": cfg.Batch,
		"optimizer": cfg.Optimizer, "lr": cfg.LR, "schedule": cfg.Schedule, "seed": cfg.Seed, "recipe": cfg.Recipe,
		"gemm": gemm.Kernel(), "threads": gemm.Threads(), "gomaxprocs": runtime.GOMAXPROCS(0),
	}).Info("training")
	res, err := recipes.Train(ctx, cfg)
	if err = finish(err); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %s: test accuracy %.2f%% after %d epochs (%d steps, %.1f ms/step); checkpoint %s\n",
		res.Model.Spec.String(), cfg.Dataset, 100*res.TestAcc, res.Epochs, res.Steps, float64(res.StepTime.Microseconds())/1e3, cfg.Out)
	return nil
}
