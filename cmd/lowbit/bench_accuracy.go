package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	registerBench("accuracy", "the recipes × datasets accuracy grid: docs/results/accuracy.{md,csv,png}, resumable", benchAccuracy)
}

func benchAccuracy(args []string, stdout io.Writer) error {
	fs := newFlags("bench accuracy")
	names := fs.String("recipes", "", "comma-separated recipes (default: every registered recipe)")
	sets := fs.String("datasets", strings.Join(bench.DefaultDatasets, ","), "comma-separated datasets")
	epochs := fs.Int("epochs", 0, "epochs of every cell (default: the recipe's own, 3 unless set, on MNIST; at least 5 on Fashion-MNIST)")
	seed := fs.Uint64("seed", 1, "random seed of every cell (init, shuffling, dropout)")
	maxSteps := fs.Int("max-steps", 0, "stop each cell after N steps: a smoke run (0: no limit)")
	evalLimit := fs.Int("limit", 0, "evaluate on the first N test examples (0: all)")
	alias(fs, "limit", "eval-limit")
	out := fs.String("o", "docs/results", "report directory (accuracy.md, .csv, .png and the per-cell accuracy-runs.json)")
	alias(fs, "o", "out")
	ckpt := fs.String("ckpt", "runs/accuracy", "directory of each cell's checkpoint (\"\" for none; the fp ones seed -init-fp)")
	initFP := fs.Bool("init-fp", true, "start LSQ recipes from the fp checkpoint of the same dataset, as the paper does")
	force := fs.Bool("force", false, "rerun cells already finished with the same settings")
	dataDir := fs.String("data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	workers := fs.Int("workers", 0, "data loader workers (default GOMAXPROCS)")
	threads := fs.Int("threads", 0, "GEMM threads (default GOMAXPROCS)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	report := fs.Bool("report", false, "only rewrite the report from the finished cells in -o (no training)")
	command := fs.String("command", "", "with -report: the command line(s) that trained the cells, for the report header")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *report {
		return accuracyReportOnly(*out, *command, args, stdout)
	}
	rep, err := newReporter(*logFormat)
	if err != nil {
		return err
	}
	if *threads > 0 {
		gemm.SetThreads(*threads)
	}
	cfg := bench.AccuracyConfig{
		Recipes: commaList(*names), Datasets: commaList(*sets), Epochs: *epochs, Seed: *seed,
		MaxSteps: *maxSteps, EvalLimit: *evalLimit, Out: *out, Checkpoints: *ckpt, InitFP: *initFP,
		Force: *force, DataDir: *dataDir, Workers: *workers,
		Command: "lowbit bench accuracy " + strings.Join(args, " "),
	}
	cfg.Command = strings.TrimSpace(cfg.Command)
	for _, n := range cfg.Recipes {
		if _, err := recipes.Lookup(n); err != nil {
			return err
		}
	}
	logAccuracy(&cfg, rep.log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunAccuracy(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d cells trained, %d already finished; wrote %s/accuracy.{md,csv,png}\n", res.Ran, res.Skipped, cfg.Out)
	for _, oc := range res.Ordering {
		fmt.Fprintf(stdout, "ordering %s\n", oc)
	}
	return nil
}

// accuracyReportOnly rewrites the report from the finished cells in out.
func accuracyReportOnly(out, command string, args []string, stdout io.Writer) error {
	cells, err := bench.LoadCells(out)
	if err != nil {
		return err
	}
	if len(cells) == 0 {
		return fmt.Errorf("%s holds no finished cells", out)
	}
	cmd := command
	if cmd == "" {
		cmd = "lowbit bench accuracy " + strings.Join(args, " ")
	}
	checks, err := bench.WriteAccuracyReport(out, cells, cmd, bench.ThisMachine())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/accuracy.{md,csv,png} from %d cells\n", out, len(cells))
	for _, oc := range checks {
		fmt.Fprintf(stdout, "ordering %s\n", oc)
	}
	return nil
}

// logAccuracy logs each cell's start, epochs and end.
func logAccuracy(cfg *bench.AccuracyConfig, log *logrus.Logger) {
	cfg.OnStart = func(c bench.Cell) {
		log.WithFields(logrus.Fields{"recipe": c.Recipe, "dataset": c.Dataset, "epochs": c.Epochs, "seed": c.Seed, "max_steps": c.MaxSteps}).Info("cell start")
	}
	cfg.OnEpoch = func(c bench.Cell, e recipes.EpochStats) {
		f := logrus.Fields{"recipe": c.Recipe, "dataset": c.Dataset, "epoch": e.Epoch, "epochs": e.Epochs,
			"test_acc": round4(100 * e.TestAcc), "train_loss": round4(e.TrainLoss), "elapsed": e.Duration.Round(time.Millisecond).String()}
		if e.FlipRatio > 0 {
			f["flip_ratio"] = round4(e.FlipRatio)
		}
		log.WithFields(f).Info("epoch done")
	}
	cfg.OnDone = func(c bench.Cell, skipped bool) {
		if skipped {
			log.WithFields(logrus.Fields{"recipe": c.Recipe, "dataset": c.Dataset, "acc": round4(c.Acc)}).Info("cell already finished (-force to redo)")
			return
		}
		f := logrus.Fields{"recipe": c.Recipe, "dataset": c.Dataset, "acc": round4(c.Acc), "seconds": round4(c.Seconds)}
		if c.InitFrom != "" {
			f["init_from"] = c.InitFrom
		}
		if c.Error != "" {
			f["error"] = c.Error
		}
		log.WithFields(f).Info("cell done")
	}
}

func commaList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
