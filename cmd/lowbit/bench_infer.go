package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
)

func init() {
	registerBench("infer", "exported whole networks: batch-1 latency and batch-32 throughput at 1 thread and all cores, against PyTorch float and int8 (docs/results/infer.md)", cmdBenchInfer)
}

func cmdBenchInfer(args []string, stdout io.Writer) error {
	fs := newFlags("bench infer")
	modelsFlag := fs.String("models", "", "comma-separated MODEL/RECIPE networks, or a model name for its default networks; default: all of "+strings.Join(defaultInferNames(), ","))
	rounds := fs.Int("rounds", 5, "interleaved rounds")
	runs := fs.Int("runs", 20, "batch-1 calls per worker per round (their median is the round's time)")
	batchRuns := fs.Int("batch-runs", 2, "throughput-batch calls per worker per round")
	batch := fs.Int("batch", 32, "throughput batch")
	threads := fs.Int("threads", runtime.NumCPU(), "\"all cores\": the second thread setting of the engine and PyTorch")
	seed := fs.Uint64("seed", 1, "seed of the weights and the inputs")
	torch := fs.String("torch", "/usr/bin/python3", "Python with torch and torchvision for the PyTorch peers")
	noTorch := fs.Bool("no-torch", false, "skip the PyTorch peers")
	inProcess := fs.Bool("inprocess", false, "build and serve every network in this process (one GOMAXPROCS for both thread settings: for tests)")
	out := fs.String("o", "docs/results/infer.md", "report file (\"\" prints only)")
	alias(fs, "o", "out")
	child := fs.Bool("child", false, "internal: serve the network in -file on stdin/stdout")
	build := fs.Bool("build", false, "internal: build the one network -models names into -file")
	file := fs.String("file", "", "internal: the exported network of -child and -build")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("bench infer: unexpected arguments %q", pos)
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"-rounds", *rounds}, {"-runs", *runs}, {"-batch-runs", *batchRuns}, {"-batch", *batch}, {"-threads", *threads}} {
		if c.v < 1 {
			return usagef("bench infer: %s must be at least 1, got %d", c.name, c.v)
		}
	}
	nets, err := bench.ParseInferModels(splitList(*modelsFlag))
	if err != nil {
		return usageErr("-models", err)
	}
	if *child || *build {
		return inferChild(nets, *file, *build, *batch, *seed, stdout)
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	opt := bench.InferOptions{
		Models: nets, Rounds: *rounds, Runs: *runs, BatchRuns: *batchRuns, Batch: *batch, Threads: *threads, Seed: *seed,
		Command:    strings.TrimSpace("lowbit bench infer " + strings.Join(args, " ")),
		OnProgress: func(msg string) { log.Info(msg) },
	}
	if !*noTorch {
		opt.Torch = *torch
	}
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench infer: %w (use -inprocess)", err)
		}
		opt.Worker = func(w bench.InferWorker) *exec.Cmd { return inferWorkerCmd(exe, w) }
	}
	rep, err := bench.RunInfer(opt)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	stdout.Write(md.Bytes())
	return writeReport(*out, md.Bytes())
}

func defaultInferNames() []string {
	var s []string
	for _, m := range bench.DefaultInferModels {
		s = append(s, m.String())
	}
	return s
}

// inferWorkerCmd is the child that builds or serves w, at w.Threads
// (GOMAXPROCS) when serving.
func inferWorkerCmd(exe string, w bench.InferWorker) *exec.Cmd {
	args := []string{"bench", "infer", "-models", w.Model + "/" + w.Recipe, "-file", w.File,
		"-batch", strconv.Itoa(w.Batch), "-seed", strconv.FormatUint(w.Seed, 10)}
	if w.Build {
		args = append(args, "-build")
	} else {
		args = append(args, "-child", "-threads", strconv.Itoa(w.Threads))
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	if !w.Build {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(w.Threads))
	}
	return cmd
}

// inferChild builds or serves one network (bench infer -build / -child).
func inferChild(nets []bench.InferModel, file string, build bool, batch int, seed uint64, stdout io.Writer) error {
	if len(nets) != 1 || file == "" {
		return usagef("bench infer -child/-build: need one -models network and -file, got %d networks and -file %q", len(nets), file)
	}
	w := bench.InferWorker{Model: nets[0].Model, Recipe: nets[0].Recipe, File: file, Batch: batch, Seed: seed, Build: build}
	if build {
		return bench.BuildInfer(w)
	}
	return bench.ServeInfer(w, os.Stdin, stdout)
}
