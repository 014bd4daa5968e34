package recipes

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
)

// Schedule names a learning-rate schedule over the run.
type Schedule string

const (
	Cosine      Schedule = "cosine"      // cosine decay from LR to 0 over all epochs (default)
	Constant    Schedule = "constant"    // LR throughout
	StepDecay   Schedule = "step"        // LR × 0.1 at 1/2 and 3/4 of the epochs
	Exponential Schedule = "exponential" // LR to FinalLR geometrically per epoch (BNN)
)

// Config is one training run. The zero value of each field picks the default noted.
type Config struct {
	Model   models.Spec
	Recipe  string // name recorded in checkpoints
	Dataset string // datasets.Open name; "" means mnist
	DataDir string // "" lets datasets.Locate search
	Scaling datasets.Scaling

	Epochs    int     // 0 means 3
	Batch     int     // 0 means 64
	EvalBatch int     // 0 means 500
	Workers   int     // loader goroutines; 0 means GOMAXPROCS
	LR        float32 // 0 means 1e-3
	FinalLR   float32 // Exponential's last LR; 0 means LR·1e-4
	Optimizer string  // optim.New name; "" means adam
	Opt       optim.Config
	Schedule  Schedule
	Warmup    int // linear warmup steps

	// LatentClip clips latent weights of binary layers to [−LatentClip, LatentClip] after each step (BNN: 1).
	LatentClip float32
	Seed       uint64

	Out string // checkpoint written after every epoch ("" for none)
	// Resume is a checkpoint to resume from. The run's settings (model, recipe,
	// dataset, scaling, epochs, batch, LR, optimizer, schedule, clip, seed) then
	// come from it: a zero field takes the checkpoint's value and a non-zero
	// one that differs is an error. Data, paths, workers and limits stay the caller's.
	Resume string
	// InitFrom initialises a fresh run's model from this checkpoint or PyTorch
	// state_dict (see InitFrom); ignored when resuming. InitLenient (the CLI's
	// -strict=false) goes on past unmatched PyTorch tensors, listing them to OnWarn.
	InitFrom    string
	InitLenient bool
	OnWarn      func(msg string)

	// MaxSteps stops training after this many steps in total (0: no limit); the
	// run is still evaluated. Used by tests and benchmarks.
	MaxSteps int
	// EvalLimit evaluates on the first EvalLimit test examples only (0: all).
	EvalLimit int

	OnStep  func(StepStats)  // after every step
	OnEpoch func(EpochStats) // after every epoch's evaluation and checkpoint

	// Train and Test, when set, are used instead of opening Dataset.
	Train, Test datasets.Dataset

	// Comm, when it has more than one process, trains data-parallel: Batch is the
	// global batch, split over the ranks (see dataParallel). Rank 0 alone calls
	// OnStep and OnEpoch and writes checkpoints.
	Comm dist.Comm
	// SyncBN makes BatchNorm use the global batch's statistics across the ranks.
	SyncBN bool
}

// StepStats reports one training step.
type StepStats struct {
	Epoch, Step, StepsPerEpoch int // Step counts within the epoch, from 1
	Global                     uint64
	Loss                       float32
	Acc                        float64 // the batch's top-1 accuracy
	LR                         float32
	Duration                   time.Duration
	Comm                       time.Duration // gradient allreduce, part of Duration (data-parallel runs)
}

// EpochStats reports one finished epoch.
type EpochStats struct {
	Epoch, Epochs int // Epoch counts from 1
	TrainLoss     float64
	TrainAcc      float64
	TestLoss      float64
	TestAcc       float64
	FlipRatio     float64 // share of binary weights that changed sign (0 without binary layers)
	StepTime      time.Duration
	Duration      time.Duration
	Checkpoint    string
	Skipped       int // corrupt examples skipped by the loader
}

// Result summarises a run.
type Result struct {
	Model  *models.Model
	Epochs int // completed epochs
	// EpochStep counts the steps done in the next epoch when a MaxSteps
	// limit stopped the run mid-epoch.
	EpochStep int
	Steps     uint64
	TestAcc   float64
	TestLoss  float64
	StepTime  time.Duration // mean time of a training step
}

// ErrNonFinite reports a NaN or Inf loss, gradient, weight or statistic.
var ErrNonFinite = errors.New("recipes: non-finite value")

// ErrNothingToTrain reports a run that would train no step: a dataset smaller
// than one batch, a finished run resumed, or a step limit already reached.
var ErrNothingToTrain = errors.New("recipes: nothing to train")

// Defaults returns the settings a zero Config field selects, defined once for
// the library and the CLI. Seed is the CLI's default seed; the library uses
// Config.Seed as given (0 is a seed like any other).
func Defaults() Config {
	return Config{Dataset: "mnist", Epochs: 3, Batch: 64, EvalBatch: 500, LR: 1e-3, Optimizer: "adam", Schedule: Cosine, Seed: 1}
}

// ApplyDefaults fills c's zero fields with Defaults' settings, as Train does.
func (c *Config) ApplyDefaults() { c.defaults() }

func (c *Config) defaults() {
	d := Defaults()
	if c.Dataset == "" {
		c.Dataset = d.Dataset
	}
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = d.EvalBatch
	}
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.FinalLR == 0 {
		c.FinalLR = c.LR * 1e-4
	}
	if c.Optimizer == "" {
		c.Optimizer = d.Optimizer
	}
	if c.Schedule == "" {
		c.Schedule = d.Schedule
	}
}

// Check reports an unknown schedule name.
func (s Schedule) Check() error {
	switch s {
	case Cosine, Constant, StepDecay, Exponential:
		return nil
	}
	return fmt.Errorf("recipes: unknown schedule %q (known: cosine, constant, step, exponential)", s)
}

func (c *Config) schedule() (optim.Schedule, error) {
	var s optim.Schedule
	switch c.Schedule {
	case Cosine:
		s = optim.Cosine{Base: c.LR, Epochs: c.Epochs}
	case Constant:
		s = optim.Constant(c.LR)
	case StepDecay:
		s = optim.MultiStep{Base: c.LR, Milestones: []int{c.Epochs / 2, c.Epochs * 3 / 4}, Gamma: 0.1}
	case Exponential:
		s = optim.Exponential{Base: c.LR, Final: c.FinalLR, Epochs: c.Epochs}
	default:
		return nil, c.Schedule.Check()
	}
	if c.Warmup > 0 {
		s = optim.Warmup{Steps: c.Warmup, Then: s}
	}
	return s, nil
}

// OpenData opens the train and test splits of cfg's dataset, checking they fit the model.
func OpenData(cfg *Config) (train, test datasets.Dataset, err error) {
	opts := datasets.Options{Scaling: cfg.Scaling}
	train, test = cfg.Train, cfg.Test
	if train == nil {
		if train, err = datasets.Open(cfg.Dataset, "train", cfg.DataDir, opts); err != nil {
			return nil, nil, err
		}
	}
	if test == nil {
		split := "test"
		if cfg.Dataset == "imagenette" || cfg.Dataset == "imagefolder" {
			split = "val"
		}
		if test, err = datasets.Open(cfg.Dataset, split, cfg.DataDir, opts); err != nil {
			return nil, nil, err
		}
	}
	return train, test, nil
}

// fitSpec fills the model's input shape and classes from the data, or checks them.
func fitSpec(s *models.Spec, ds datasets.Dataset) error {
	h, w, c := ds.Shape()
	if len(s.Input) == 0 {
		s.Input = []int{h, w, c}
	} else if len(s.Input) != 3 || s.Input[0] != h || s.Input[1] != w || s.Input[2] != c {
		return fmt.Errorf("recipes: model %s expects %v inputs, data gives %v", s.Name, s.Input, []int{h, w, c})
	}
	if s.Classes == 0 {
		s.Classes = ds.NumClasses()
	} else if s.Classes != ds.NumClasses() {
		return fmt.Errorf("recipes: model %s has %d classes, data has %d", s.Name, s.Classes, ds.NumClasses())
	}
	return fitClassNames(s, ds)
}

// Train runs cfg to the end (or to ctx's cancellation, after the current step) and
// returns the final evaluation. A checkpoint is written after every epoch, and at a
// MaxSteps stop, when cfg.Out is set. Training stops with ErrNonFinite on a NaN/Inf
// loss, weight, BatchNorm statistic or quantizer parameter, leaving the last good
// checkpoint in place and naming it. A run that would train no step returns
// ErrNothingToTrain. Resuming takes every run setting from the checkpoint (see
// Checkpoint.Settings); a non-zero Config field that contradicts it is an error.
//
// Train is open, then one epoch at a time (each closes its loader), then close.
func Train(ctx context.Context, cfg Config) (*Result, error) {
	r, err := open(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for r.epoch < r.cfg.Epochs && !r.limitReached() {
		if err := r.runEpoch(ctx); err != nil {
			return r.res, err
		}
	}
	if r.nSteps > 0 {
		r.res.StepTime = r.stepTime / time.Duration(r.nSteps)
	}
	return r.res, nil
}

// run is one training run between open and close.
type run struct {
	cfg         Config
	m           *models.Model
	tn          *Net
	eval        Evaluator // the evaluation graph, compiled at the first epoch's end
	test        datasets.Dataset
	loader      batchSource
	dp          *dataParallel // nil in one process
	opt         optim.Optimizer
	sched       optim.Schedule
	oparams     []*optim.Param
	flips       optim.FlipCounter
	epoch       int    // completed epochs
	skip        int    // steps of the current epoch done before a mid-epoch resume
	step        uint64 // completed steps in all
	good        string // the last checkpoint known to load ("" for none)
	res         *Result
	stepTime    time.Duration
	nSteps      int
	stepsPerEp  int
	epochLoss   float64
	epochRight  int
	epochSeen   int
	epochStepNo int
}

// open checks cfg, opens the data, builds or restores the model and optimizer, and
// compiles the training graph. Nothing needs closing when it fails.
func open(cfg Config) (*run, error) {
	var ck *Checkpoint
	if cfg.Resume != "" {
		var err error
		if ck, err = LoadCheckpoint(cfg.Resume); err != nil {
			return nil, err
		}
		if cfg, err = resumeConfig(ck, cfg); err != nil {
			return nil, err
		}
	}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Out != "" && (cfg.Comm == nil || cfg.Comm.Rank() == 0) { // rank 0 writes it
		if err := atomicfile.Prepare(cfg.Out); err != nil {
			return nil, fmt.Errorf("recipes: %w", err)
		}
	}
	r := &run{cfg: cfg}
	train, test, err := OpenData(&r.cfg)
	if err != nil {
		return nil, err
	}
	r.test = test
	if err := r.build(train, ck); err != nil {
		return nil, err
	}
	if r.tn, err = r.dp.newNet(r.m, &r.cfg, &r.step); err != nil {
		return nil, err
	}
	if err := r.dp.prepare(r.m, train, &r.cfg, ck == nil, r.epoch, &r.step); err != nil {
		r.tn.Close()
		return nil, err
	}
	r.oparams = OptimParams(r.tn.Params())
	r.res = &Result{Model: r.m, Epochs: r.epoch, Steps: r.step}
	return r, nil
}

// build makes the model, optimizer, schedule and loader, restoring ck's state when resuming.
func (r *run) build(train datasets.Dataset, ck *Checkpoint) error {
	cfg := &r.cfg
	if err := fitSpec(&cfg.Model, train); err != nil {
		return err
	}
	fitInputMeta(&cfg.Model, cfg.Dataset, cfg.Scaling)
	var err error
	if r.dp, err = newDataParallel(cfg, train, r.test); err != nil {
		return err
	}
	if r.m, err = models.New(cfg.Model); err != nil {
		return err
	}
	if cfg.InitFrom != "" && ck == nil {
		if err := InitFromWith(r.m, cfg.InitFrom, InitOptions{Lenient: cfg.InitLenient, Warn: cfg.OnWarn}); err != nil {
			return err
		}
	}
	if r.opt, err = optim.New(cfg.Optimizer, cfg.Opt); err != nil {
		return err
	}
	if r.sched, err = cfg.schedule(); err != nil {
		return err
	}
	if ck != nil {
		if err := r.restore(ck); err != nil {
			return err
		}
	}
	r.loader, err = r.dp.newLoader(train, cfg)
	if err != nil {
		return err
	}
	if r.stepsPerEp = r.loader.StepsPerEpoch(); r.stepsPerEp == 0 {
		return fmt.Errorf("%w: the training set has %d examples, fewer than one batch of %d", ErrNothingToTrain, train.Len(), cfg.Batch)
	}
	return r.checkWork()
}

// restore loads a checkpoint's tensors and optimizer state into the run.
func (r *run) restore(ck *Checkpoint) error {
	path := r.cfg.Resume
	if err := ck.LoadInto(r.m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if ck.Optimizer != r.opt.String() {
		return fmt.Errorf("recipes: %s: checkpoint optimizer is %s, the run uses %s", path, ck.Optimizer, r.opt.String())
	}
	if err := r.opt.SetState(ck.OptBytes); err != nil {
		return fmt.Errorf("recipes: %s: %w", path, err)
	}
	r.epoch, r.skip, r.step, r.good = ck.Epoch, ck.EpochStep, ck.Step, path
	return nil
}

// checkWork refuses a run that would train no step.
func (r *run) checkWork() error {
	if r.epoch >= r.cfg.Epochs {
		return fmt.Errorf("%w: %s already finished all %d epochs (%d steps); start a new run to train further", ErrNothingToTrain, r.cfg.Resume, r.cfg.Epochs, r.step)
	}
	if r.limitReached() {
		return fmt.Errorf("%w: the run is at step %d, and the step limit is %d", ErrNothingToTrain, r.step, r.cfg.MaxSteps)
	}
	if r.skip >= r.stepsPerEp {
		return fmt.Errorf("recipes: %s: %d steps done in epoch %d, which has only %d (batch or data changed?)", r.cfg.Resume, r.skip, r.epoch+1, r.stepsPerEp)
	}
	return nil
}

func (r *run) limitReached() bool { return r.cfg.MaxSteps > 0 && int(r.step) >= r.cfg.MaxSteps }

// close releases the graphs and collects them, so that what the caller does
// next (a final evaluation, another run) reuses their memory instead of
// growing the heap to twice its peak.
func (r *run) close() {
	r.tn.Close()
	r.eval.Close()
	r.tn, r.eval.net = nil, nil
	runtime.GC()
}

// runEpoch trains the current epoch (from r.skip on), or its part up to the step
// limit, then evaluates and checkpoints.
func (r *run) runEpoch(ctx context.Context) error {
	t0 := time.Now()
	r.flips.Snapshot(r.oparams)
	r.epochLoss, r.epochRight, r.epochSeen, r.epochStepNo = 0, 0, 0, r.skip
	it := r.loader.Epoch(r.epoch)
	defer it.Close()
	var b datasets.Batch
	for k := 0; k < r.skip && it.Next(&b); k++ {
	}
	for !r.limitReached() && it.Next(&b) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.trainStep(&b); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	done := r.epochStepNo >= r.stepsPerEp
	if !done && !r.limitReached() {
		return fmt.Errorf("recipes: epoch %d ended after %d of its %d steps", r.epoch+1, r.epochStepNo, r.stepsPerEp)
	}
	if done {
		r.epoch, r.skip = r.epoch+1, 0
	} else {
		r.skip = r.epochStepNo
	}
	return r.endEpoch(t0, it.Skipped())
}

// trainStep runs one batch forward and backward and applies the optimizer.
func (r *run) trainStep(b *datasets.Batch) error {
	ts := time.Now()
	if err := r.tn.Run(b.X, b.Y, b.N); err != nil {
		return err
	}
	i := r.epochStepNo + 1
	loss := r.tn.Loss()
	c, _ := Correct(r.tn.Logits(), r.m.Spec.Classes, b.Y, b.N)
	loss, c, n, err := r.dp.reduce(r.tn, loss, c, b.N)
	if err != nil {
		return err
	}
	if !finite(loss) {
		return fmt.Errorf("%w: loss is %v at epoch %d step %d (last good checkpoint: %s)", ErrNonFinite, loss, r.epoch+1, i, r.lastGood())
	}
	for j, g := range r.tn.Grads() {
		r.oparams[j].Grad = g
	}
	lr := r.sched.LR(int(r.step), r.stepsPerEp)
	if err := r.opt.Step(r.oparams, lr); err != nil {
		return fmt.Errorf("recipes: epoch %d step %d: %w (last good checkpoint: %s)", r.epoch+1, i, err, r.lastGood())
	}
	if r.cfg.LatentClip > 0 {
		if err := optim.ClipLatent(r.oparams, r.cfg.LatentClip); err != nil {
			return err
		}
	}
	r.step++
	r.epochStepNo = i
	dt := time.Since(ts)
	r.stepTime += dt
	r.nSteps++
	r.epochRight += c
	r.epochSeen += n
	r.epochLoss += float64(loss) * float64(n)
	if r.cfg.OnStep != nil && r.dp.root() {
		r.cfg.OnStep(StepStats{Epoch: r.epoch + 1, Step: i, StepsPerEpoch: r.stepsPerEp, Global: r.step, Loss: loss, Acc: float64(c) / float64(n), LR: lr, Duration: dt, Comm: r.dp.commTime()})
	}
	return nil
}

// endEpoch checks the model is finite, evaluates it, saves a checkpoint and reports.
func (r *run) endEpoch(t0 time.Time, skipped int) error {
	shown := r.epoch // the epoch just trained, counted from 1
	if r.skip > 0 {
		shown = r.epoch + 1
	}
	if err := checkModelFinite(r.m); err != nil {
		return fmt.Errorf("%w at epoch %d step %d; not saved (last good checkpoint: %s)", err, shown, r.epochStepNo, r.lastGood())
	}
	acc, tloss, err := r.dp.evaluate(&r.eval, r.m, r.test, r.cfg.EvalBatch, r.cfg.Workers, r.cfg.EvalLimit)
	if err != nil {
		return err
	}
	if !finite(float32(tloss)) {
		return fmt.Errorf("%w: test loss is %v at epoch %d step %d; not saved (last good checkpoint: %s)", ErrNonFinite, tloss, shown, r.epochStepNo, r.lastGood())
	}
	// The steps allocate little, so the Go collector would let an epoch's
	// garbage (decoded images, loader scratch) pile up to the size of the
	// graphs' buffers before collecting; one collection per epoch keeps the
	// peak near the live size instead of twice it.
	runtime.GC()
	ratio, _ := r.flips.Ratio(r.oparams)
	r.res.Epochs, r.res.EpochStep, r.res.Steps, r.res.TestAcc, r.res.TestLoss = r.epoch, r.skip, r.step, acc, tloss
	es := EpochStats{Epoch: shown, Epochs: r.cfg.Epochs, TestAcc: acc, TestLoss: tloss, FlipRatio: ratio, Duration: time.Since(t0), Skipped: skipped}
	if r.epochSeen > 0 {
		es.TrainLoss, es.TrainAcc = r.epochLoss/float64(r.epochSeen), float64(r.epochRight)/float64(r.epochSeen)
		es.StepTime = r.stepTime / time.Duration(max(r.nSteps, 1))
	}
	if r.cfg.Out != "" {
		if r.dp.root() {
			if err := r.save(acc); err != nil {
				return err
			}
		} else {
			r.good = r.cfg.Out // rank 0 wrote it (or failed, which ends the job)
		}
		es.Checkpoint = r.cfg.Out
	}
	if r.cfg.OnEpoch != nil && r.dp.root() {
		r.cfg.OnEpoch(es)
	}
	return nil
}

// save writes the run's checkpoint to cfg.Out; it becomes the last good one.
func (r *run) save(acc float64) error {
	ck := &Checkpoint{Model: r.m.Spec, Recipe: r.cfg.Recipe, Dataset: r.cfg.Dataset, Config: r.cfg.runConfig(),
		Epoch: r.epoch, EpochStep: r.skip, Step: r.step, TestAcc: acc, Optimizer: r.opt.String()}
	ck.snapshot(r.m)
	var err error
	if ck.OptBytes, err = r.opt.State(); err != nil {
		return err
	}
	if err := ck.Save(r.cfg.Out); err != nil {
		return err
	}
	r.good = r.cfg.Out
	return nil
}

// lastGood names the last checkpoint this run wrote or resumed from.
func (r *run) lastGood() string {
	switch {
	case r.good != "":
		return r.good
	case r.cfg.Out == "":
		return "none (no output path)"
	}
	return "none written yet"
}

// OptimParams wraps layer parameters for an optimizer: the same backing slices,
// the optimizer kind for weight-decay rules, the binary flag and any paper decay.
func OptimParams(params []*layers.Param) []*optim.Param {
	out := make([]*optim.Param, len(params))
	for i, p := range params {
		out[i] = &optim.Param{Name: p.Name, Data: p.Data(), Kind: optimKind(p.Kind), Binary: p.Binary}
		if p.Decay != 0 {
			d := p.Decay
			out[i].Decay = &d
		}
	}
	return out
}

func optimKind(k layers.Kind) optim.Kind {
	switch k {
	case layers.Bias:
		return optim.Bias
	case layers.BNScale:
		return optim.BNScale
	case layers.BNShift:
		return optim.BNShift
	case layers.QuantParam:
		return optim.QuantParam
	}
	return optim.Weight
}

// Evaluate returns top-1 accuracy and mean loss of m on ds (the first limit examples when limit > 0).
func Evaluate(m *models.Model, ds datasets.Dataset, batch, workers, limit int) (acc, loss float64, err error) {
	var e Evaluator
	defer e.Close()
	return e.Evaluate(m, ds, batch, workers, limit)
}

// Evaluator evaluates a model repeatedly (after every epoch) with one
// evaluation graph, compiled on first use and kept while the model and batch
// stay the same: graphs share the model's weight values, so the graph sees
// every update, and a run allocates its evaluation buffers once instead of
// once per epoch. The zero value is ready; Close releases the graph.
type Evaluator struct {
	net *Net
}

// Close releases the evaluation graph.
func (e *Evaluator) Close() error {
	if e.net == nil {
		return nil
	}
	err := e.net.Close()
	e.net = nil
	return err
}

// netFor returns the evaluation graph of m for batch, compiling it when the
// model or batch changed.
func (e *Evaluator) netFor(m *models.Model, batch int) (*Net, error) {
	if e.net != nil && e.net.Model == m && e.net.Batch == batch {
		return e.net, nil
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	net, err := NewNet(m, batch, false, nil)
	if err != nil {
		return nil, err
	}
	e.net = net
	return net, nil
}

// Evaluate is the package-level Evaluate with e's graph.
func (e *Evaluator) Evaluate(m *models.Model, ds datasets.Dataset, batch, workers, limit int) (acc, loss float64, err error) {
	if batch <= 0 {
		batch = 500
	}
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("recipes: evaluation set is empty")
	}
	batch = min(batch, n)
	net, err := e.netFor(m, batch)
	if err != nil {
		return 0, 0, err
	}
	l, err := datasets.NewLoader(ds, datasets.LoaderConfig{Batch: batch, Workers: workers, Eval: true})
	if err != nil {
		return 0, 0, err
	}
	it := l.Epoch(0)
	defer it.Close()
	var b datasets.Batch
	var correct, seen int
	var lossSum float64
	for seen < n && it.Next(&b) {
		cnt := min(b.N, n-seen)
		if err := net.Run(b.X, b.Y, cnt); err != nil {
			return 0, 0, err
		}
		c, ls := Correct(net.Logits(), m.Spec.Classes, b.Y, cnt)
		correct += c
		lossSum += ls
		seen += cnt
	}
	if err := it.Err(); err != nil {
		return 0, 0, err
	}
	if seen == 0 {
		return 0, 0, fmt.Errorf("recipes: evaluation set is empty")
	}
	return float64(correct) / float64(seen), lossSum / float64(seen), nil
}
