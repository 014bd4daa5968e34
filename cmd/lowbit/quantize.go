package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ptq"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

func init() {
	register("quantize", "post-training quantization of a float checkpoint (CKPT -weights lsq:bits=8 -inputs lsq:bits=8 -o OUT)", cmdQuantize)
}

type quantizeFlags struct {
	weights, inputs, method, wmethod, policy, dataDir, out string
	model, dataset                                         string
	calib, adaIters                                        int
	pct                                                    float64
	perChannel, biasCorrect, adaround, eval                bool
	seed                                                   uint64
}

func cmdQuantize(args []string, stdout io.Writer) error {
	fs := newFlags("quantize")
	var f quantizeFlags
	fs.StringVar(&f.weights, "weights", "lsq:bits=8", "weight quantizer: lsq:bits=B (2..8) or fp")
	fs.StringVar(&f.inputs, "inputs", "lsq:bits=8", "input quantizer: lsq:bits=B (1..8) or fp")
	fs.StringVar(&f.method, "method", "max", "input calibration: max, percentile, mse, entropy")
	fs.StringVar(&f.wmethod, "weight-method", "", "weight clip: max, percentile, mse (default: max with -method max, else mse)")
	fs.Float64Var(&f.pct, "pct", 99.99, "percentile for -method percentile")
	fs.StringVar(&f.policy, "policy", "", "first/last layer policy: fp, 8bit, same (default: the checkpoint's)")
	fs.IntVar(&f.calib, "calib", 1000, "calibration images drawn from the training split")
	fs.BoolVar(&f.perChannel, "per-channel", false, "one weight step per output channel")
	fs.BoolVar(&f.biasCorrect, "bias-correct", false, "correct each channel's bias for the quantization shift")
	fs.BoolVar(&f.adaround, "adaround", false, "learn each weight's rounding (AdaRound)")
	fs.IntVar(&f.adaIters, "ada-iters", 1000, "AdaRound steps per layer")
	fs.StringVar(&f.dataDir, "data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	fs.StringVar(&f.out, "o", "", "output checkpoint (default: CKPT with -ptq.ckpt)")
	fs.StringVar(&f.model, "model", "", "with a PyTorch file (.safetensors, .pt) as CKPT: its lowbit model (PyTorch layout, see 'lowbit convert')")
	fs.StringVar(&f.dataset, "dataset", "", "with a PyTorch file as CKPT: the dataset it was trained on (calibration and test data)")
	fs.BoolVar(&f.eval, "eval", true, "evaluate the quantized checkpoint on the test split")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the calibration sample and AdaRound")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one checkpoint path, got %d arguments", len(pos))
	}
	cfg, err := f.config()
	if err != nil {
		return usageError{err}
	}
	out := f.out
	if out == "" {
		out = strings.TrimSuffix(pos[0], filepath.Ext(pos[0])) + "-ptq.ckpt"
	}
	return quantizeRun(pos[0], out, f, cfg, stdout)
}

func (f quantizeFlags) config() (ptq.Config, error) {
	cfg := ptq.Config{PerChannel: f.perChannel, BiasCorrect: f.biasCorrect, AdaRound: f.adaround, Percentile: f.pct, Seed: f.seed, Policy: models.Policy(f.policy)}
	cfg.Ada.Iters = f.adaIters
	var err error
	if cfg.WBits, err = lsqBits("-weights", f.weights); err != nil {
		return cfg, err
	}
	if cfg.ABits, err = lsqBits("-inputs", f.inputs); err != nil {
		return cfg, err
	}
	if cfg.Method, err = ptq.ParseMethod(f.method); err != nil {
		return cfg, fmt.Errorf("-method: %w", err)
	}
	wm := f.wmethod
	if wm == "" {
		wm = "mse"
		if cfg.Method == ptq.Max {
			wm = "max"
		}
	}
	if cfg.WMethod, err = ptq.ParseMethod(wm); err != nil {
		return cfg, fmt.Errorf("-weight-method: %w", err)
	}
	return cfg, nil
}

// lsqBits reads the bits of an lsq:bits=B spec (0 for fp).
func lsqBits(flag, spec string) (int, error) {
	q, err := ste.Parse(spec)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", flag, err)
	}
	if q == nil {
		return 0, nil
	}
	if q.Name() != "lsq" || q.Symmetric() {
		return 0, fmt.Errorf("%s %s: post-training quantization writes uniform steps: give lsq:bits=B or fp", flag, spec)
	}
	return q.BitsFor(ste.Weights), nil
}

func quantizeRun(in, out string, f quantizeFlags, cfg ptq.Config, stdout io.Writer) error {
	start := time.Now()
	ck, err := f.load(in)
	if err != nil {
		return err
	}
	scaling, _ := datasets.ParseScaling(ck.Config.Scaling)
	train, err := datasets.Open(ck.Dataset, "train", f.dataDir, datasets.Options{Scaling: scaling})
	if err != nil {
		return err
	}
	calib, err := ptq.LoadCalib(train, f.calib, f.seed)
	if err != nil {
		return err
	}
	q, rep, err := ptq.Quantize(ck, calib, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if f.eval {
		if q.TestAcc, err = evalCheckpoint(q, f.dataDir); err != nil {
			return err
		}
	}
	if err := q.Save(out); err != nil {
		return err
	}
	writeQuantReport(stdout, rep)
	fmt.Fprintf(stdout, "calibration %.2fs, weights %.2fs, total %.2fs\n", rep.Calib.Seconds(), rep.Weights.Seconds(), time.Since(start).Seconds())
	if f.eval {
		fmt.Fprintf(stdout, "test accuracy %.2f%%\n", 100*q.TestAcc)
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", out, q.Model)
	return nil
}

// load reads the float model to quantize: a lowbit checkpoint, or with -model
// and -dataset a PyTorch state_dict in that model's layout.
func (f quantizeFlags) load(in string) (*recipes.Checkpoint, error) {
	if f.model == "" && f.dataset == "" {
		return recipes.LoadCheckpoint(in)
	}
	if f.model == "" || f.dataset == "" {
		return nil, usagef("-model and -dataset: give both with a PyTorch file, neither with a lowbit checkpoint")
	}
	if err := models.CheckName(f.model); err != nil {
		return nil, usageErr("-model", err)
	}
	if !slices.Contains(datasets.Names(), f.dataset) {
		return nil, usagef("-dataset: unknown dataset %q (known: %s)", f.dataset, strings.Join(datasets.Names(), ", "))
	}
	return recipes.ImportCheckpoint(in, models.Spec{Name: f.model, Seed: f.seed}, f.dataset)
}

// evalCheckpoint returns a checkpoint's top-1 accuracy on its test split.
func evalCheckpoint(ck *recipes.Checkpoint, dataDir string) (float64, error) {
	m, err := ck.Restore()
	if err != nil {
		return 0, err
	}
	scaling, _ := datasets.ParseScaling(ck.Config.Scaling)
	cfg := recipes.Config{Dataset: ck.Dataset, DataDir: dataDir, Scaling: scaling}
	_, test, err := recipes.OpenData(&cfg)
	if err != nil {
		return 0, err
	}
	acc, _, err := recipes.Evaluate(m, test, 500, 0, 0)
	return acc, err
}

func writeQuantReport(w io.Writer, rep *ptq.Report) {
	fmt.Fprintf(w, "%s: %d calibration images, %d BatchNorms folded\n", rep.Spec, rep.Images, rep.Folded)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tin max\tin clip\tin step\tw step min\tw step max\trec nearest\trec adaround\tbias shift\tnote\t")
	for _, l := range rep.Layers {
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.3g\t%s\t\n", l.Name, l.InMax, l.InClip, l.InStep, l.WSteps[0], l.WSteps[1], l.RecNearest, l.RecAda, l.BiasShift, l.Note)
	}
	tw.Flush()
}
