package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
)

func init() {
	registerBench("ptq", "post-training quantization vs QAT by bit width: docs/results/ptq.{md,csv,png}, resumable", benchPTQ)
}

func benchPTQ(args []string, stdout io.Writer) error {
	fs := newFlags("bench ptq")
	targets := fs.String("ckpt", "runs/fp-mnist.ckpt,runs/fp-fashion.ckpt,runs/r20-fp.ckpt", "comma-separated float checkpoints")
	qat := fs.String("qat-epochs", "1,1,2", "QAT (LSQ) epochs per checkpoint, comma-separated (0: no QAT rows)")
	bits := fs.String("bits", "8/8,4/8,4/4,2/4", "comma-separated W/A bit widths")
	calib := fs.Int("calib", 1000, "calibration images")
	adaIters := fs.Int("ada-iters", 1000, "AdaRound steps per layer")
	seed := fs.Uint64("seed", 1, "seed of the calibration sample, AdaRound and QAT")
	torch := fs.String("torch", "", "python interpreter for the PyTorch peer (bench/torch_ptq.py), e.g. /usr/bin/python3; \"\" skips it")
	scratch := fs.String("scratch", "runs", "directory for the peer's safetensors file")
	dataDir := fs.String("data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	out := fs.String("o", "docs/results", "report directory")
	alias(fs, "o", "out")
	force := fs.Bool("force", false, "rerun finished cells")
	report := fs.Bool("report", false, "only rewrite the report from the finished cells in -out")
	cmdLine := fs.String("command", "", "with -report: the command line(s) that ran the cells, for the report header")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	command := strings.TrimSpace("lowbit bench ptq " + strings.Join(args, " "))
	if *report {
		if *cmdLine != "" {
			command = *cmdLine
		}
		cells, err := bench.LoadPTQCells(*out)
		if err != nil {
			return err
		}
		return bench.WritePTQReport(*out, cells, command, bench.ThisMachine())
	}
	cfg := bench.PTQConfig{Calib: *calib, AdaIters: *adaIters, Seed: *seed, DataDir: *dataDir, Out: *out, Force: *force,
		Torch: *torch, Scratch: *scratch, Command: command}
	var err error
	if cfg.Targets, err = ptqTargets(*targets, *qat); err != nil {
		return usageError{err}
	}
	for _, b := range commaList(*bits) {
		var wa bench.WA
		if _, err := fmt.Sscanf(b, "%d/%d", &wa.W, &wa.A); err != nil {
			return usagef("-bits %q: want W/A pairs such as 4/8", b)
		}
		cfg.Bits = append(cfg.Bits, wa)
	}
	cfg.OnDone = func(c bench.PTQCell, _ bool) {
		logrus.WithFields(logrus.Fields{"dataset": c.Dataset, "kind": c.Kind, "bits": fmt.Sprintf("W%dA%d", c.WBits, c.ABits), "acc": round4(c.Acc), "seconds": round4(c.Seconds)}).Info("cell done")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cells, err := bench.RunPTQ(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d cells; wrote %s/ptq.{md,csv,png}\n", len(cells), *out)
	return nil
}

func ptqTargets(ckpts, epochs string) ([]bench.PTQTarget, error) {
	cs, es := commaList(ckpts), commaList(epochs)
	if len(es) != len(cs) {
		return nil, fmt.Errorf("-qat-epochs has %d values for %d checkpoints", len(es), len(cs))
	}
	var out []bench.PTQTarget
	for i, c := range cs {
		t := bench.PTQTarget{Checkpoint: c}
		if _, err := fmt.Sscanf(es[i], "%d", &t.QATEpochs); err != nil || t.QATEpochs < 0 {
			return nil, fmt.Errorf("-qat-epochs %q: want a count", es[i])
		}
		out = append(out, t)
	}
	return out, nil
}
