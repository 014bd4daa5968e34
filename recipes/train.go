package recipes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/dist"
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

	Out    string // checkpoint written after every epoch ("" for none)
	Resume string // checkpoint to resume from
	// InitFrom initialises a fresh run's model from this checkpoint (see InitFrom);
	// ignored when resuming.
	InitFrom string

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
	Model    *models.Model
	Epochs   int
	Steps    uint64
	TestAcc  float64
	TestLoss float64
	StepTime time.Duration // mean time of a training step
}

// ErrNonFinite reports a NaN or Inf loss or gradient.
var ErrNonFinite = errors.New("recipes: non-finite loss")

func (c *Config) defaults() {
	if c.Dataset == "" {
		c.Dataset = "mnist"
	}
	if c.Epochs == 0 {
		c.Epochs = 3
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = 500
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.FinalLR == 0 {
		c.FinalLR = c.LR * 1e-4
	}
	if c.Optimizer == "" {
		c.Optimizer = "adam"
	}
	if c.Schedule == "" {
		c.Schedule = Cosine
	}
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
		return nil, fmt.Errorf("recipes: unknown schedule %q (known: cosine, constant, step, exponential)", c.Schedule)
	}
	if c.Warmup > 0 {
		s = optim.Warmup{Steps: c.Warmup, Then: s}
	}
	return s, nil
}

func (c *Config) runConfig() RunConfig {
	return RunConfig{Epochs: c.Epochs, Batch: c.Batch, LR: c.LR, Optimizer: c.Optimizer, Schedule: string(c.Schedule),
		Seed: c.Seed, LatentClip: c.LatentClip, Scaling: c.Scaling.String()}
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
	} else if s.Input[0] != h || s.Input[1] != w || s.Input[2] != c {
		return fmt.Errorf("recipes: model %s expects %v inputs, data gives %v", s.Name, s.Input, []int{h, w, c})
	}
	if s.Classes == 0 {
		s.Classes = ds.NumClasses()
	} else if s.Classes != ds.NumClasses() {
		return fmt.Errorf("recipes: model %s has %d classes, data has %d", s.Name, s.Classes, ds.NumClasses())
	}
	return nil
}

// Train runs cfg to the end (or to ctx's cancellation, after the current step) and
// returns the final evaluation. A checkpoint is written after every epoch when
// cfg.Out is set; training stops with ErrNonFinite on a NaN/Inf loss, leaving the
// last good checkpoint in place.
func Train(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	train, test, err := OpenData(&cfg)
	if err != nil {
		return nil, err
	}
	var ck *Checkpoint
	if cfg.Resume != "" {
		if ck, err = LoadCheckpoint(cfg.Resume); err != nil {
			return nil, err
		}
		if cfg.Model.Name != "" && cfg.Model.Name != ck.Model.Name {
			return nil, fmt.Errorf("recipes: %s: checkpoint holds model %s, the run asks for %s", cfg.Resume, ck.Model.Name, cfg.Model.Name)
		}
		cfg.Model = ck.Model
	}
	if err := fitSpec(&cfg.Model, train); err != nil {
		return nil, err
	}
	dp, err := newDataParallel(&cfg, train, test)
	if err != nil {
		return nil, err
	}
	m, err := models.New(cfg.Model)
	if err != nil {
		return nil, err
	}
	if cfg.InitFrom != "" && ck == nil {
		if err := InitFrom(m, cfg.InitFrom); err != nil {
			return nil, err
		}
	}
	opt, err := optim.New(cfg.Optimizer, cfg.Opt)
	if err != nil {
		return nil, err
	}
	sched, err := cfg.schedule()
	if err != nil {
		return nil, err
	}
	startEpoch := 0
	var step uint64
	if ck != nil {
		if err := ck.LoadInto(m); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Resume, err)
		}
		if ck.Optimizer != opt.String() {
			return nil, fmt.Errorf("recipes: %s: checkpoint optimizer is %s, the run uses %s", cfg.Resume, ck.Optimizer, opt.String())
		}
		if err := opt.SetState(ck.OptBytes); err != nil {
			return nil, fmt.Errorf("recipes: %s: %w", cfg.Resume, err)
		}
		startEpoch, step = ck.Epoch, ck.Step
	}
	loader, err := dp.newLoader(train, &cfg)
	if err != nil {
		return nil, err
	}
	tn, err := dp.newNet(m, &cfg, &step)
	if err != nil {
		return nil, err
	}
	defer tn.Close()
	if err := dp.prepare(m, train, &cfg, ck == nil, startEpoch, &step); err != nil {
		return nil, err
	}
	params := tn.Params()
	oparams := OptimParams(params)
	var flips optim.FlipCounter
	res := &Result{Model: m, Epochs: startEpoch, Steps: step}
	var totalStep time.Duration
	var nSteps int
	steps := loader.StepsPerEpoch()
	for epoch := startEpoch; epoch < cfg.Epochs; epoch++ {
		t0 := time.Now()
		flips.Snapshot(oparams)
		it := loader.Epoch(epoch)
		var b datasets.Batch
		var lossSum float64
		var correct, seen, i int
		stopped := false
		for it.Next(&b) {
			if err := ctx.Err(); err != nil {
				it.Close()
				return res, err
			}
			if cfg.MaxSteps > 0 && int(step) >= cfg.MaxSteps {
				stopped = true
				break
			}
			ts := time.Now()
			if err := tn.Run(b.X, b.Y, b.N); err != nil {
				it.Close()
				return res, err
			}
			loss := tn.Loss()
			c, _ := Correct(tn.Logits(), m.Spec.Classes, b.Y, b.N)
			loss, c, n, err := dp.reduce(tn, loss, c, b.N)
			if err != nil {
				it.Close()
				return res, err
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				it.Close()
				return res, fmt.Errorf("%w: loss is %v at epoch %d step %d (last good checkpoint: %s)", ErrNonFinite, loss, epoch+1, i+1, lastGood(cfg.Out))
			}
			grads := tn.Grads()
			for j, g := range grads {
				oparams[j].Grad = g
			}
			lr := sched.LR(int(step), steps)
			if err := opt.Step(oparams, lr); err != nil {
				it.Close()
				return res, fmt.Errorf("recipes: epoch %d step %d: %w (last good checkpoint: %s)", epoch+1, i+1, err, lastGood(cfg.Out))
			}
			if cfg.LatentClip > 0 {
				if err := optim.ClipLatent(oparams, cfg.LatentClip); err != nil {
					return res, err
				}
			}
			step++
			i++
			dt := time.Since(ts)
			totalStep += dt
			nSteps++
			correct += c
			seen += n
			lossSum += float64(loss) * float64(n)
			if cfg.OnStep != nil && dp.root() {
				cfg.OnStep(StepStats{Epoch: epoch + 1, Step: i, StepsPerEpoch: steps, Global: step, Loss: loss, Acc: float64(c) / float64(n), LR: lr, Duration: dt, Comm: dp.commTime()})
			}
		}
		it.Close()
		if err := it.Err(); err != nil {
			return res, err
		}
		acc, tloss, err := dp.evaluate(m, test, cfg.EvalBatch, cfg.Workers, cfg.EvalLimit)
		if err != nil {
			return res, err
		}
		ratio, _ := flips.Ratio(oparams)
		res.Epochs, res.Steps, res.TestAcc, res.TestLoss = epoch+1, step, acc, tloss
		es := EpochStats{Epoch: epoch + 1, Epochs: cfg.Epochs, TestAcc: acc, TestLoss: tloss, FlipRatio: ratio, Duration: time.Since(t0), Skipped: it.Skipped()}
		if seen > 0 {
			es.TrainLoss, es.TrainAcc = lossSum/float64(seen), float64(correct)/float64(seen)
			es.StepTime = totalStep / time.Duration(max(nSteps, 1))
		}
		if cfg.Out != "" && dp.root() {
			ck := &Checkpoint{Model: m.Spec, Recipe: cfg.Recipe, Dataset: cfg.Dataset, Config: cfg.runConfig(), Epoch: epoch + 1, Step: step, TestAcc: acc, Optimizer: opt.String()}
			ck.snapshot(m)
			if ck.OptBytes, err = opt.State(); err != nil {
				return res, err
			}
			if err := ck.Save(cfg.Out); err != nil {
				return res, err
			}
			es.Checkpoint = cfg.Out
		}
		if cfg.OnEpoch != nil && dp.root() {
			cfg.OnEpoch(es)
		}
		if stopped {
			break
		}
	}
	if nSteps > 0 {
		res.StepTime = totalStep / time.Duration(nSteps)
	}
	return res, nil
}

func lastGood(out string) string {
	if out == "" {
		return "none (no -out)"
	}
	if _, err := os.Stat(out); err != nil {
		return "none written yet"
	}
	return out
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
	if batch <= 0 {
		batch = 500
	}
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	batch = min(batch, n)
	net, err := NewNet(m, batch, false, nil)
	if err != nil {
		return 0, 0, err
	}
	defer net.Close()
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
