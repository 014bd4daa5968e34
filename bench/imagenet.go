package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/recipes"
)

// ImageNetConfig is one run of the ImageNet-style benchmark: evaluate a checkpoint,
// or train a recipe first, on an ImageFolder (Imagenette, ImageNet) or CIFAR-10.
type ImageNetConfig struct {
	Dataset string // "imagenette", "imagefolder" or "cifar10"
	DataDir string // "" lets datasets.Locate search
	// Size is the crop side for ImageFolder data (0: the checkpoint's input, else 224).
	// CIFAR-10 is always 32.
	Size int
	// ClassIndex maps ImageFolder class folders (wnids) to label indices
	// (datasets.Options.ClassIndex), e.g. Imagenette scored as 1000-class ImageNet.
	ClassIndex string

	// Checkpoint, when set, is evaluated; its Spec and recipe need no other flags.
	Checkpoint string
	// Train trains Recipe on Model first (ignored with Checkpoint).
	Train  bool
	Recipe string
	// Setup names a recipes.Setup (e.g. "cifar") whose optimizer, schedule,
	// batch and epochs replace the recipe's; Epochs and Batch still override it.
	Setup string
	// InitFrom initialises the trained model from this checkpoint (LSQ from FP).
	InitFrom string
	LR       float32 // learning rate; 0 keeps the setup's or recipe's
	Model    string  // "" keeps the recipe's
	Width    float64 // channel multiplier (0 or 1: full width)
	Epochs   int     // 0 keeps the recipe's
	Batch    int     // training batch; 0 keeps the recipe's
	MaxSteps int     // stop training after this many steps (0: no limit)
	Seed     uint64
	Save     string // checkpoint written by training ("" for none)

	EvalBatch int // 0 means Batch
	EvalLimit int // evaluate the first EvalLimit examples only (0: all)
	Workers   int // loader goroutines (0: GOMAXPROCS)
	// ProbeBatches is how many batches the loader-alone and training-step
	// measurements time (0 means 8).
	ProbeBatches int

	// Export freezes the model for the packed engine; nil reports "not exported".
	Export Exporter

	OnStep  func(recipes.StepStats)
	OnEpoch func(recipes.EpochStats)
	// Comm and SyncBN train data-parallel (recipes.Config); the rest of the
	// benchmark runs on every rank.
	Comm   dist.Comm
	SyncBN bool
}

// ImageNetReport holds the numbers of one run.
type ImageNetReport struct {
	Dataset, DataDir, Recipe   string
	Setup, Optimizer, InitFrom string
	LR                         float32
	Schedule                   string
	EpochLog                   []EpochRow // one row per trained epoch
	Spec                       models.Spec
	Params                     int
	TrainN, TestN              int
	TestSplit                  string
	Batch, EvalBatch           int
	Workers                    int
	Checkpoint                 string // evaluated or written
	Trained                    bool
	Epochs                     int
	Steps                      uint64
	TrainTime                  time.Duration // wall time of recipes.Train, evaluations included
	Eval                       *EvalResult

	LoaderIPS   float64 // loader alone: decode + transform + batching
	StepIPS     float64 // training step: forward, backward, optimizer update
	StepSource  string  // where StepIPS comes from
	PipelineIPS float64 // training steps with the loader feeding them (0 without training)
	EvalIPS     float64 // evaluation graph
	PackedIPS   float64 // packed engine (0 when not exported)
	PackedNote  string
	PeakRSS     int64 // bytes (VmHWM)
	Wall        time.Duration
}

// LoaderBottleneck reports whether the loader alone is slower than the training step.
func (r *ImageNetReport) LoaderBottleneck() bool { return r.LoaderIPS < r.StepIPS }

// ImageFolderSize is the crop side used for ImageFolder data when neither
// ImageNetConfig.Size nor a checkpoint gives one.
const ImageFolderSize = 224

// RunImageNet runs cfg: it measures the loader, trains (or loads the checkpoint),
// measures the training step, evaluates top-1/top-5 and the packed engine, and
// reads the peak RSS.
func RunImageNet(ctx context.Context, cfg ImageNetConfig) (*ImageNetReport, error) {
	start := time.Now()
	if cfg.Dataset == "" {
		cfg.Dataset = "imagenette"
	}
	if cfg.ProbeBatches <= 0 {
		cfg.ProbeBatches = 8
	}
	rep := &ImageNetReport{Dataset: cfg.Dataset, DataDir: cfg.DataDir, Workers: cfg.Workers}
	rc, ck, err := imageNetPlan(&cfg, rep)
	if err != nil {
		return nil, err
	}
	train, test, split, err := openImageData(cfg.Dataset, cfg.DataDir, cfg.Size, datasets.Options{Scaling: rc.Scaling, ClassIndex: cfg.ClassIndex})
	if err != nil {
		return nil, err
	}
	rep.TrainN, rep.TestN, rep.TestSplit = train.Len(), test.Len(), split

	// (a) the loader alone, before training so that it sees the same cold cache a run does.
	if rep.LoaderIPS, err = LoaderRate(train, rc.Batch, cfg.Workers, cfg.Seed, cfg.ProbeBatches); err != nil {
		return nil, err
	}
	var m *models.Model
	if ck != nil {
		m, err = imageNetRestore(ctx, cfg, rc, ck, test, rep)
	} else {
		m, err = imageNetTrain(ctx, cfg, rc, train, test, rep)
	}
	if err != nil {
		return nil, err
	}
	rep.Spec = m.Spec
	for _, p := range m.Params() {
		rep.Params += len(p.Data())
	}
	if err := imageNetEval(m, test, cfg, rep); err != nil {
		return nil, err
	}
	rep.PeakRSS, _ = PeakRSS()
	rep.Wall = time.Since(start)
	return rep, nil
}

// imageNetPlan resolves the run's recipe config from the checkpoint or the
// recipe to train, and the batch sizes.
func imageNetPlan(cfg *ImageNetConfig, rep *ImageNetReport) (recipes.Config, *recipes.Checkpoint, error) {
	var rc recipes.Config
	var ck *recipes.Checkpoint
	switch {
	case cfg.Checkpoint != "":
		var err error
		if ck, err = recipes.LoadCheckpoint(cfg.Checkpoint); err != nil {
			return rc, nil, err
		}
		if cfg.Model != "" && cfg.Model != ck.Model.Name {
			return rc, nil, fmt.Errorf("bench: %s holds model %s, not %s", cfg.Checkpoint, ck.Model.Name, cfg.Model)
		}
		scaling, _ := datasets.ParseScaling(ck.Config.Scaling) // an unknown name evaluates standardised
		rc = recipes.Config{Model: ck.Model, Recipe: ck.Recipe, Batch: ck.Config.Batch, Scaling: scaling,
			Optimizer: ck.Config.Optimizer}
		if cfg.Recipe != "" && ck.Recipe != "" && cfg.Recipe != ck.Recipe {
			return rc, nil, fmt.Errorf("bench: %s was trained with recipe %s, not %s", cfg.Checkpoint, ck.Recipe, cfg.Recipe)
		}
		if cfg.Size == 0 && len(ck.Model.Input) == 3 {
			cfg.Size = ck.Model.Input[0]
		}
		rep.Checkpoint = cfg.Checkpoint
	case cfg.Train:
		if cfg.Recipe == "" {
			return rc, nil, errors.New("bench: -train needs a recipe")
		}
		r, err := recipes.Lookup(cfg.Recipe)
		if err != nil {
			return rc, nil, err
		}
		rc = r.Config(cfg.Model, cfg.Dataset)
		rc.Model.Width = cfg.Width
		if cfg.Setup != "" {
			s, err := recipes.LookupSetup(cfg.Setup)
			if err != nil {
				return rc, nil, err
			}
			if err := s.Apply(&rc); err != nil {
				return rc, nil, err
			}
			rep.Setup = s.Name
		}
		rc.InitFrom, rep.InitFrom = cfg.InitFrom, cfg.InitFrom
		if cfg.Epochs > 0 {
			rc.Epochs = cfg.Epochs
		}
		if cfg.LR > 0 {
			rc.LR = cfg.LR
		}
		rc.Seed, rc.Model.Seed = cfg.Seed, cfg.Seed
		rep.Checkpoint = cfg.Save
	default:
		return rc, nil, errors.New("bench: give a checkpoint to evaluate or ask to train")
	}
	if cfg.Batch > 0 {
		rc.Batch = cfg.Batch
	}
	if rc.Batch <= 0 {
		rc.Batch = 64
	}
	if cfg.EvalBatch <= 0 {
		cfg.EvalBatch = rc.Batch
	}
	rep.Recipe, rep.Batch, rep.EvalBatch = rc.Recipe, rc.Batch, cfg.EvalBatch
	d := rc
	d.Dataset = cfg.Dataset
	d.ApplyDefaults()
	rep.Optimizer, rep.LR, rep.Schedule = d.Optimizer, d.LR, string(d.Schedule)
	if o, err := optim.New(d.Optimizer, d.Opt); err == nil {
		rep.Optimizer = o.String()
	}
	return rc, ck, nil
}

// imageNetRestore restores the checkpoint's model and (b) times the
// training step of a fresh copy, so the checkpoint's weights stay as saved.
func imageNetRestore(ctx context.Context, cfg ImageNetConfig, rc recipes.Config, ck *recipes.Checkpoint, test datasets.Dataset, rep *ImageNetReport) (*models.Model, error) {
	m, err := ck.Restore()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Checkpoint, err)
	}
	if h, w, c := test.Shape(); h != m.Spec.Input[0] || w != m.Spec.Input[1] || c != m.Spec.Input[2] {
		return nil, fmt.Errorf("bench: %s expects %v inputs, %s gives %v", cfg.Checkpoint, m.Spec.Input, cfg.Dataset, []int{h, w, c})
	}
	rep.Epochs, rep.Steps = ck.Epoch, ck.Step
	st, err := StepRate(ctx, m.Spec, rc.Optimizer, rc.Batch, cfg.ProbeBatches)
	if err != nil {
		return nil, err
	}
	rep.StepIPS, rep.StepSource = st.IPS(), fmt.Sprintf("%d steps of a fresh copy on random data (median)", st.Steps)
	return m, nil
}

// imageNetTrain trains rc, timing (b) the steps with the loader feeding them.
func imageNetTrain(ctx context.Context, cfg ImageNetConfig, rc recipes.Config, train, test datasets.Dataset, rep *ImageNetReport) (*models.Model, error) {
	rc.Dataset, rc.DataDir, rc.Workers, rc.MaxSteps, rc.Out = cfg.Dataset, cfg.DataDir, cfg.Workers, cfg.MaxSteps, cfg.Save
	rc.EvalBatch, rc.EvalLimit = cfg.EvalBatch, cfg.EvalLimit
	rc.Comm, rc.SyncBN = cfg.Comm, cfg.SyncBN
	rc.Train, rc.Test = train, test
	var pipe pipelineClock
	rc.OnStep = func(s recipes.StepStats) {
		pipe.step(s)
		if cfg.OnStep != nil {
			cfg.OnStep(s)
		}
	}
	rc.OnEpoch = func(e recipes.EpochStats) {
		pipe.epochEnd()
		rep.EpochLog = append(rep.EpochLog, epochRow(e))
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(e)
		}
	}
	t0 := time.Now()
	res, err := recipes.Train(ctx, rc)
	rep.TrainTime = time.Since(t0)
	if err != nil {
		return nil, err
	}
	rep.Trained, rep.Epochs, rep.Steps = true, res.Epochs, res.Steps
	if med := pipe.median(); med > 0 {
		rep.StepIPS = float64(rc.Batch) / med.Seconds()
		rep.StepSource = fmt.Sprintf("median of the %d training steps after the first (graph warm-up)", len(pipe.durs)-1)
	} else if res.StepTime > 0 {
		rep.StepIPS = float64(rc.Batch) / res.StepTime.Seconds()
		rep.StepSource = fmt.Sprintf("the %d training step (graph warm-up included)", res.Steps)
	}
	if n, d := pipe.steps-1, pipe.total-pipe.firstDur(); n > 0 && d > 0 {
		rep.PipelineIPS = float64(n*rc.Batch) / d.Seconds()
	}
	return res.Model, nil
}

// imageNetEval runs (c) graph eval and (d) the packed engine, on the same batches.
func imageNetEval(m *models.Model, test datasets.Dataset, cfg ImageNetConfig, rep *ImageNetReport) error {
	var packed Packed
	var err error
	rep.PackedNote = "not exported (no exporter wired)"
	if cfg.Export != nil {
		if packed, err = cfg.Export(m); err != nil {
			rep.PackedNote = "not exported: " + oneLine(err)
			packed = nil
		}
	}
	ev, err := EvaluateTopK(m, test, cfg.EvalBatch, cfg.Workers, cfg.EvalLimit, packed)
	if err != nil {
		return err
	}
	rep.Eval = ev
	rep.EvalIPS, rep.PackedIPS = ev.Rates()
	if packed != nil {
		if ev.PackedErr != nil {
			rep.PackedNote = oneLine(ev.PackedErr)
		} else {
			rep.PackedNote = fmt.Sprintf("top-1 %.2f%%, argmax agrees with the graph on %.2f%%", 100*ev.PackedTop1, 100*ev.PackedAgree)
		}
	}
	return nil
}

// EpochRow is one trained epoch in the report: accuracy, loss, time and the
// process's memory when it ended.
type EpochRow struct {
	Epoch               int
	TrainLoss, TrainAcc float64
	TestLoss, TestAcc   float64
	Duration            time.Duration
	RSS, PeakRSS        int64 // VmRSS and VmHWM after the epoch's evaluation, bytes
}

func epochRow(e recipes.EpochStats) EpochRow {
	row := EpochRow{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc, TestLoss: e.TestLoss, TestAcc: e.TestAcc, Duration: e.Duration}
	row.PeakRSS, _ = PeakRSS()
	row.RSS, _ = procField("/proc/self/status", "VmRSS")
	return row
}

// writeEpochs writes the per-epoch table (nothing when no epoch was trained here).
func writeEpochs(w io.Writer, rows []EpochRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## Epochs\n\n| epoch | train loss | train top-1 | test loss | test top-1 | time | RSS | peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.4f | %.2f%% | %.4f | %.2f%% | %s | %d MiB | %d MiB |\n", r.Epoch, r.TrainLoss, 100*r.TrainAcc,
			r.TestLoss, 100*r.TestAcc, r.Duration.Round(time.Second), r.RSS>>20, r.PeakRSS>>20)
	}
	fmt.Fprintln(w)
}

// pipelineClock measures training steps with the loader feeding them: the time from
// the start of each epoch's first step to the end of its last, loader waits included.
type pipelineClock struct {
	first, last time.Time
	steps       int
	total       time.Duration
	durs        []time.Duration // each step's own time, loader excluded
}

func (p *pipelineClock) step(s recipes.StepStats) {
	p.durs = append(p.durs, s.Duration)
	now := time.Now()
	if p.first.IsZero() {
		p.first = now.Add(-s.Duration)
	}
	p.last = now
	p.steps++
}

// median is the median step time after the first step, which builds the
// graph's buffers (0 with fewer than 2 steps).
func (p *pipelineClock) median() time.Duration {
	if len(p.durs) < 2 {
		return 0
	}
	rest := append([]time.Duration(nil), p.durs[1:]...)
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	return rest[len(rest)/2]
}

func (p *pipelineClock) firstDur() time.Duration {
	if len(p.durs) == 0 {
		return 0
	}
	return p.durs[0]
}

func (p *pipelineClock) epochEnd() {
	if !p.first.IsZero() {
		p.total += p.last.Sub(p.first)
	}
	p.first = time.Time{}
}

// openImageData opens the train and evaluation splits: CIFAR-10 (JPEG folders or
// binary batches) at 32×32, or an ImageFolder at size×size with the ImageNet
// transforms (RandomResizedCrop and flip for training, resize and centre crop for
// evaluation).
func openImageData(name, dir string, size int, opts datasets.Options) (train, test datasets.Dataset, split string, err error) {
	var trainOpts, testOpts datasets.Options = opts, opts
	split = "test"
	switch name {
	case "cifar10", "cifar100":
		if size != 0 && size != 32 {
			return nil, nil, "", fmt.Errorf("bench: %s images are 32×32, not %d", name, size)
		}
	case "imagenette", "imagefolder":
		if size == 0 {
			size = ImageFolderSize
		}
		tp, ep := datasets.ImageNetTrain(size), datasets.ImageNetEval(size)
		trainOpts.Transform, testOpts.Transform = &tp, &ep
		split = "val"
	default:
		return nil, nil, "", fmt.Errorf("bench: dataset %q: want imagenette, imagefolder, cifar10 or cifar100", name)
	}
	if train, err = datasets.Open(name, "train", dir, trainOpts); err != nil {
		return nil, nil, "", err
	}
	if test, err = datasets.Open(name, split, dir, testOpts); err != nil {
		return nil, nil, "", err
	}
	return train, test, split, nil
}

// LoaderRate times batches of the training loader alone (shuffled, augmented, as
// training reads them) and returns images per second.
func LoaderRate(ds datasets.Dataset, batch, workers int, seed uint64, batches int) (float64, error) {
	batch = min(batch, ds.Len())
	l, err := datasets.NewLoader(ds, datasets.LoaderConfig{Batch: batch, Shuffle: true, Seed: seed, Workers: workers, DropLast: true})
	if err != nil {
		return 0, err
	}
	it := l.Epoch(0)
	defer it.Close()
	var b datasets.Batch
	n := 0
	t0 := time.Now()
	for i := 0; i < batches && it.Next(&b); i++ {
		n += b.N
	}
	dt := time.Since(t0)
	if err := it.Err(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("bench: the loader gave no batch")
	}
	return float64(n) / dt.Seconds(), nil
}

// StepStats times training steps of one model.
type StepStats struct {
	Batch, Steps  int
	First, Median time.Duration // the first step (graph warm-up) and the median of the rest
	PeakRSS       int64         // VmHWM after the steps, bytes
}

// IPS is images per second at the median step time.
func (s StepStats) IPS() float64 {
	if s.Median <= 0 {
		return 0
	}
	return float64(s.Batch) / s.Median.Seconds()
}

// StepRate builds a fresh model from spec and times steps training steps
// (forward, backward and an optimizer update; "" means adam) on random normal
// inputs of the batch size, with random labels.
func StepRate(ctx context.Context, spec models.Spec, optimizer string, batch, steps int) (StepStats, error) {
	st := StepStats{Batch: batch, Steps: max(steps, 1)}
	m, err := models.New(spec)
	if err != nil {
		return st, err
	}
	var step uint64
	net, err := recipes.NewNet(m, batch, true, &step)
	if err != nil {
		return st, err
	}
	defer net.Close()
	if optimizer == "" {
		optimizer = "adam"
	}
	opt, err := optim.New(optimizer, optim.Config{})
	if err != nil {
		return st, err
	}
	ops := recipes.OptimParams(net.Params())
	per := 1
	for _, d := range m.Spec.Input {
		per *= d
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 7))
	x := make([]float32, batch*per)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, batch)
	for i := range y {
		y[i] = int32(rng.IntN(m.Spec.Classes))
	}
	var times []time.Duration
	for i := 0; i < st.Steps; i++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		t0 := time.Now()
		if err := net.Run(x, y, batch); err != nil {
			return st, err
		}
		for j, g := range net.Grads() {
			ops[j].Grad = g
		}
		if err := opt.Step(ops, 1e-4); err != nil {
			return st, err
		}
		step++
		times = append(times, time.Since(t0))
	}
	st.First = times[0]
	rest := times
	if len(times) > 1 {
		rest = times[1:]
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	st.Median = rest[len(rest)/2]
	st.PeakRSS, _ = PeakRSS()
	return st, nil
}

// PeakRSS reads the process's peak resident set size (VmHWM in /proc/self/status), in bytes.
func PeakRSS() (int64, error) { return procField("/proc/self/status", "VmHWM") }

// procPeakRSS is the peak RSS of process pid in bytes, 0 when unknown.
func procPeakRSS(pid int) int64 {
	v, _ := procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM")
	return v
}

// memAvailable is the kernel's estimate of memory available to new work in bytes, 0 when unknown.
func memAvailable() int64 {
	v, _ := procField("/proc/meminfo", "MemAvailable")
	return v
}

// procField reads a "Name:  123 kB" line of a /proc file, in bytes.
func procField(path, name string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: %s: %q: %w", path, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: no %s in %s", name, path)
}

// ReportPath is the default report file of a model and recipe.
func ReportPath(model, recipe string) string {
	if recipe == "" {
		recipe = "none"
	}
	return fmt.Sprintf("docs/results/imagenet-%s-%s.md", model, recipe)
}

// WriteImageNetReport writes r as Markdown: the header, the settings, accuracy,
// throughput, peak RSS and whether the loader limits training.
func WriteImageNetReport(w io.Writer, r *ImageNetReport, command string, m Machine) error {
	recipe := r.Recipe
	if recipe == "" {
		recipe = "(none)"
	}
	WriteHeader(w, fmt.Sprintf("ImageNet-style benchmark: %s, recipe %s, on %s", r.Spec.Name, recipe, r.Dataset), command, m)
	width := r.Spec.Width
	if width == 0 {
		width = 1
	}
	fmt.Fprintf(w, "| setting | value |\n|---|---|\n")
	fmt.Fprintf(w, "| model | %s |\n| width | %g |\n| input | %s, %d classes |\n| parameters | %d |\n",
		r.Spec.String(), width, dims(r.Spec.Input), r.Spec.Classes, r.Params)
	dir := r.DataDir
	if dir == "" {
		dir = "located"
	}
	fmt.Fprintf(w, "| dataset | %s (%s): %d train, %d %s |\n", r.Dataset, dir, r.TrainN, r.TestN, r.TestSplit)
	fmt.Fprintf(w, "| batch | %d (evaluation %d) |\n", r.Batch, r.EvalBatch)
	if r.Trained {
		setup := r.Setup
		if setup == "" {
			setup = "none (the recipe's own)"
		}
		fmt.Fprintf(w, "| setup | %s |\n| optimizer | %s, lr %g, %s schedule |\n", setup, r.Optimizer, r.LR, r.Schedule)
		if r.InitFrom != "" {
			fmt.Fprintf(w, "| initialised from | %s |\n", r.InitFrom)
		}
	}
	if r.Trained {
		fmt.Fprintf(w, "| training | %d epochs, %d steps, wall time %s (evaluations included) |\n", r.Epochs, r.Steps, r.TrainTime.Round(time.Second))
	} else {
		fmt.Fprintf(w, "| training | none here: checkpoint after %d epochs, %d steps |\n", r.Epochs, r.Steps)
	}
	if r.Checkpoint != "" {
		fmt.Fprintf(w, "| checkpoint | %s |\n", r.Checkpoint)
	}
	fmt.Fprintf(w, "| total wall time | %s |\n\n", r.Wall.Round(time.Second))

	fmt.Fprintf(w, "## Accuracy\n\n| split | examples | top-1 | top-5 | loss |\n|---|---:|---:|---:|---:|\n")
	if e := r.Eval; e != nil {
		fmt.Fprintf(w, "| %s | %d | %.2f%% | %.2f%% | %.4f |\n\n", r.TestSplit, e.N, 100*e.Top1, 100*e.Top5, e.Loss)
	}

	writeEpochs(w, r.EpochLog)
	fmt.Fprintf(w, "## Throughput\n\n| stage | images/s | how |\n|---|---:|---|\n")
	fmt.Fprintf(w, "| loader alone | %.1f | decode, augment and batch, %s |\n", r.LoaderIPS, workersText(r.Workers))
	fmt.Fprintf(w, "| training step | %.1f | forward, backward, update: %s |\n", r.StepIPS, r.StepSource)
	if r.PipelineIPS > 0 {
		fmt.Fprintf(w, "| training with the loader | %.1f | steps including waits for the loader |\n", r.PipelineIPS)
	}
	fmt.Fprintf(w, "| graph eval | %.1f | evaluation graph only, first batch (warm-up) left out when there are more |\n", r.EvalIPS)
	if r.PackedIPS > 0 {
		fmt.Fprintf(w, "| packed engine | %.1f | %s |\n\n", r.PackedIPS, r.PackedNote)
	} else {
		fmt.Fprintf(w, "| packed engine | - | %s |\n\n", r.PackedNote)
	}
	fmt.Fprintf(w, "Peak RSS (VmHWM, whole run): %s.\n\n", bytesText(r.PeakRSS))
	verdict := "no"
	if r.LoaderBottleneck() {
		verdict = "yes"
	}
	_, err := fmt.Fprintf(w, "Loader bottleneck: %s: the loader alone gives %.1f images/s, %.2f× the training step's %.1f.\n",
		verdict, r.LoaderIPS, r.LoaderIPS/max(r.StepIPS, 1e-9), r.StepIPS)
	return err
}

func workersText(n int) string {
	if n <= 0 {
		return "GOMAXPROCS workers"
	}
	return fmt.Sprintf("%d workers", n)
}

func dims(s []int) string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = strconv.Itoa(d)
	}
	return strings.Join(p, "×")
}

func bytesText(b int64) string {
	if b <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.2f GiB (%d MiB)", float64(b)/(1<<30), b>>20)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
