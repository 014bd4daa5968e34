package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	registerBench("imagenet", "top-1/top-5 and images/s of a model on an ImageFolder or CIFAR-10, from a checkpoint or after training", benchImageNet)
}

// packedExporter freezes models for the packed engine (a *bitpack.Model satisfies
// bench.Packed); a model export.Freeze rejects is reported "not exported".
func packedExporter(m *models.Model) (bench.Packed, error) {
	bm, err := export.Freeze(m)
	if err != nil {
		return nil, err
	}
	return bm, nil
}

func benchImageNet(args []string, stdout io.Writer) error {
	fs := newFlags("bench imagenet")
	dataset := fs.String("dataset", "imagenette", "dataset: imagenette, imagefolder, cifar10 (JPEG folders or binary batches), cifar100")
	dataDir := fs.String("data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	model := fs.String("model", "resnet18", "model: "+strings.Join(models.Names(), ", "))
	recipe := fs.String("recipe", "fp", "paper recipe to train (see 'lowbit recipes')")
	setup := fs.String("setup", "", "named training setup replacing the recipe's optimizer, schedule, batch and epochs (known: "+strings.Join(recipes.Setups(), ", ")+"); -epochs and -batch override it")
	lr := fs.Float64("lr", 0, "-train: learning rate (default: the setup's, else the recipe's), e.g. 0.01 to fine-tune from -init-from")
	initFrom := fs.String("init-from", "", "-train: initialise from this checkpoint (e.g. LSQ from a trained FP model)")
	ckpt := fs.String("ckpt", "", "evaluate this checkpoint (its model and recipe need no flags)")
	train := fs.Bool("train", false, "train the recipe first")
	epochs := fs.Int("epochs", 0, "training epochs (default: the recipe's)")
	width := fs.Float64("width", 1, "channel width multiplier, e.g. 0.25")
	classIndex := fs.String("class-index", "", "ImageFolder class-index file mapping wnids to label indices (e.g. ImageNet's 1000)")
	size := fs.Int("size", 0, "crop side for ImageFolder data (default: the checkpoint's, else 224)")
	batch := fs.Int("batch", 0, "training batch (default: the recipe's)")
	evalBatch := fs.Int("eval-batch", 0, "evaluation batch (default: the training batch)")
	evalLimit := fs.Int("limit", 0, "evaluate the first N examples only (0: all; folders are in class order, so this is no random sample)")
	alias(fs, "limit", "eval-limit")
	maxSteps := fs.Int("max-steps", 0, "stop training after N steps (0: no limit)")
	seed := fs.Uint64("seed", 1, "random seed")
	workers := fs.Int("workers", 0, "loader workers (default GOMAXPROCS)")
	probe := fs.Int("probe", 8, "batches timed for the loader-alone and training-step figures")
	save := fs.String("save", "", "checkpoint written by -train (default runs/imagenet-MODEL-RECIPE-DATASET.ckpt)")
	out := fs.String("o", "", "report path (default docs/results/imagenet-MODEL-RECIPE.md; - for stdout only)")
	alias(fs, "o", "out")
	step := fs.Bool("step", false, "time -probe training steps on random data at -size (default 224) and -batch (default 32) and report peak RSS; no dataset needed")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	syncBN := fs.Bool("sync-bn", false, "-train under mpirun (-tags mpi builds): BatchNorm statistics over the global batch")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	set := setFlags(fs)
	if err := checkImageNetFlags(*width, *lr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *step {
		return benchTrainStep(ctx, stdout, *model, *recipe, *width, *size, *batch, *probe, *seed)
	}
	if *ckpt == "" && !*train {
		return fmt.Errorf("want -ckpt CHECKPOINT or -train")
	}
	rep, err := newReporter(*logFormat)
	if err != nil {
		return err
	}
	cfg := bench.ImageNetConfig{
		Dataset: *dataset, DataDir: *dataDir, Size: *size, ClassIndex: *classIndex,
		Checkpoint: *ckpt, Train: *train, Recipe: *recipe, Setup: *setup, InitFrom: *initFrom, LR: float32(*lr), Epochs: *epochs, Batch: *batch,
		MaxSteps: *maxSteps, Seed: *seed, EvalBatch: *evalBatch, EvalLimit: *evalLimit, Workers: *workers,
		ProbeBatches: *probe, Export: packedExporter, OnStep: rep.step, OnEpoch: rep.epoch, SyncBN: *syncBN,
	}
	if set["width"] {
		cfg.Width = *width
	}
	if set["model"] || *ckpt == "" {
		cfg.Model = *model
	}
	if *ckpt != "" && !set["recipe"] {
		cfg.Recipe = ""
	}
	if *ckpt == "" {
		cfg.Save = savePath(*save, *model, *recipe, *dataset)
	}
	finish, err := joinRanks(&cfg.Comm, cfg.SyncBN, rep, &stdout)
	if err != nil {
		return err
	}
	rep.log.WithFields(logrus.Fields{"model": *model, "recipe": *recipe, "dataset": *dataset, "checkpoint": *ckpt, "train": *train}).Info("bench imagenet")
	r, err := bench.RunImageNet(ctx, cfg)
	if err = finish(err); err != nil {
		return err
	}
	if cfg.Comm.Rank() != 0 {
		return nil // rank 0 writes the report
	}
	return writeImageNet(stdout, r, args, *out, *recipe)
}

// checkImageNetFlags refuses a non-positive -width and a negative or non-finite -lr.
func checkImageNetFlags(width, lr float64) error {
	if width <= 0 {
		return fmt.Errorf("-width: %v is not positive", width)
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return usagef("-lr: %v is invalid: want a finite value ≥ 0 (0: the setup's or recipe's)", lr)
	}
	return nil
}

// savePath is where bench imagenet -train writes its checkpoint: -save, else
// runs/imagenet-MODEL-RECIPE-DATASET.ckpt.
func savePath(save, model, recipe, dataset string) string {
	if save != "" {
		return save
	}
	return fmt.Sprintf("runs/imagenet-%s-%s-%s.ckpt", model, recipe, dataset)
}

// writeImageNet writes the report to out (default: bench.ReportPath; "-":
// stdout only) and prints it.
func writeImageNet(stdout io.Writer, r *bench.ImageNetReport, args []string, out, recipe string) error {
	var buf bytes.Buffer
	command := "lowbit bench imagenet " + strings.Join(args, " ")
	if err := bench.WriteImageNetReport(&buf, r, command, bench.ThisMachine()); err != nil {
		return err
	}
	path := out
	if path == "" {
		rec := r.Recipe
		if rec == "" {
			rec = recipe
		}
		path = bench.ReportPath(r.Spec.Name, rec)
	}
	if path != "-" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(path, buf.Bytes()); err != nil {
			return err
		}
	}
	_, err := stdout.Write(buf.Bytes())
	if err == nil && path != "-" {
		_, err = fmt.Fprintf(stdout, "\nreport written to %s\n", path)
	}
	return err
}

// benchTrainStep times training steps of a model at size×size and batch on random
// data and prints the step time and the process's peak RSS.
func benchTrainStep(ctx context.Context, stdout io.Writer, model, recipe string, width float64, size, batch, steps int, seed uint64) error {
	r, err := recipes.Lookup(recipe)
	if err != nil {
		return err
	}
	spec := r.Config(model, "").Model
	if size == 0 {
		size = bench.ImageFolderSize
	}
	if batch == 0 {
		batch = 32
	}
	spec.Input, spec.Width, spec.Seed = []int{size, size, 3}, width, seed
	st, err := bench.StepRate(ctx, spec, r.Optimizer, batch, steps)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s at %dx%d, batch %d: %d training steps, first %v, median %v (%.1f images/s); peak RSS %.2f GiB\n",
		spec.String(), size, size, batch, st.Steps, st.First.Round(1e6), st.Median.Round(1e6), st.IPS(), float64(st.PeakRSS)/(1<<30))
	return err
}
