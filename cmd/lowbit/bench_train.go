package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
)

func init() {
	registerBench("train", "training-step time, allocations and peak RSS per recipe, against PyTorch (docs/results/train-speed.md)", cmdBenchTrain)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cmdBenchTrain(args []string, stdout io.Writer) error {
	fs := newFlags("bench train")
	modelsFlag := fs.String("models", "resnet20,resnet18,lenet5", "comma-separated models (an unregistered one is skipped with a note)")
	recipesFlag := fs.String("recipes", "", "comma-separated recipes (fp is the full-precision one); default: fp and every registered recipe on every model")
	batch := fs.Int("batch", 0, "batch size; 0: 64 for lenet5, 32 for resnet18 (224 px), 128 for CIFAR models")
	rounds := fs.Int("rounds", 5, "interleaved rounds")
	steps := fs.Int("steps", 20, "timed steps per config per round (reduced per model to fit -budget, not below 0.3 s of one config's steps)")
	warmup := fs.Int("warmup", 3, "untimed steps per config before the first round")
	budget := fs.Duration("budget", 5*time.Minute, "time allowed for the timed rounds (starting the workers comes on top)")
	maxWorkers := fs.Int("max-workers", 0, "configs a model runs at once besides fp and PyTorch; 0: as many as fit in memory")
	seed := fs.Uint64("seed", 1, "seed of the weights and the random batch")
	torch := fs.String("torch", "/usr/bin/python3", "Python with torch for the PyTorch comparison (\"\" skips it)")
	torchThreads := fs.Int("torch-threads", 0, "PyTorch is timed at 1 and at this many threads, its faster median kept; 0: the CPUs")
	inProcess := fs.Bool("inprocess", false, "serve every config in this process instead of one child each (peak RSS is then the process's)")
	out := fs.String("o", "docs/results/train-speed.md", "report file (\"\" prints only)")
	alias(fs, "o", "out")
	child := fs.Bool("child", false, "internal: serve one config on stdin/stdout (-models and -recipes name it)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("bench train: unexpected arguments %q", pos)
	}
	if *child {
		ms, rs := splitList(*modelsFlag), splitList(*recipesFlag)
		if len(ms) != 1 || len(rs) != 1 {
			return fmt.Errorf("bench train -child: need one model and one recipe, got %q and %q", *modelsFlag, *recipesFlag)
		}
		return bench.ServeTrain(bench.TrainWorker{Model: ms[0], Recipe: rs[0], Batch: *batch, Warmup: *warmup, Seed: *seed}, os.Stdin, stdout)
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	opt := bench.TrainOptions{
		Models: splitList(*modelsFlag), Recipes: splitList(*recipesFlag), Batch: *batch,
		Rounds: *rounds, Steps: *steps, Warmup: *warmup, Budget: *budget, Seed: *seed, MaxWorkers: *maxWorkers,
		Torch: *torch, TorchThreads: *torchThreads,
		Command:    strings.TrimSpace("lowbit bench train " + strings.Join(args, " ")),
		OnProgress: func(msg string) { log.Info(msg) },
	}
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench train: %w (use -inprocess)", err)
		}
		opt.Worker = func(w bench.TrainWorker) *exec.Cmd {
			return exec.Command(exe, "bench", "train", "-child", "-models", w.Model, "-recipes", w.Recipe,
				"-batch", strconv.Itoa(w.Batch), "-warmup", strconv.Itoa(w.Warmup), "-seed", strconv.FormatUint(w.Seed, 10))
		}
	}
	rep, err := bench.RunTrain(opt)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	stdout.Write(md.Bytes())
	return writeReport(*out, md.Bytes())
}

// writeReport writes a bench report, creating its directory ("" writes nothing).
func writeReport(path string, b []byte) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
