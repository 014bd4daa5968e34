package recipes

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"time"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// dataParallel is one rank's part of a data-parallel run (Config.Comm with more
// than one process). A nil *dataParallel is the one-process run: every method
// then does what Train did before.
//
// Each epoch's seeded order is the one-process order; global batch k is
// order[k·Batch : (k+1)·Batch] and rank r takes its rows [r·B, (r+1)·B) with
// B = Batch/Size. Every rank runs the same graph on its B rows, the gradients
// (and the BatchNorm running statistics) are averaged by allreduce, and every
// rank takes the same optimizer step, so the ranks stay identical and follow
// the one-process run at batch Batch up to float reduction order.
type dataParallel struct {
	comm        dist.Comm
	rank, size  int
	local       int // rows per rank
	syncBN      bool
	buf         []float32
	states      []layers.State // averaged each step (per-rank BatchNorm statistics)
	fullBatches *datasets.Loader
	comm1       time.Duration // the last step's allreduce
}

// commTime is the last step's allreduce time (0 in one process).
func (dp *dataParallel) commTime() time.Duration {
	if dp == nil {
		return 0
	}
	return dp.comm1
}

// newDataParallel checks cfg for a data-parallel run and that every rank runs the
// same build with the same configuration; nil for a one-process run.
func newDataParallel(cfg *Config, train, test datasets.Dataset) (*dataParallel, error) {
	if dist.Single(cfg.Comm) {
		return nil, nil // one process: its BatchNorm sees the whole batch (-sync-bn changes nothing)
	}
	c := cfg.Comm
	dp := &dataParallel{comm: c, rank: c.Rank(), size: c.Size(), syncBN: cfg.SyncBN}
	print, err := fingerprint(cfg, train, test)
	if err != nil {
		return nil, err
	}
	if err := dist.CheckSame(c, print, "build or configuration (binary, flags, data sizes)"); err != nil {
		return nil, err
	}
	if cfg.Batch%dp.size != 0 {
		return nil, fmt.Errorf("recipes: batch %d does not split over %d ranks (-batch is the global batch; make it a multiple of the rank count)", cfg.Batch, dp.size)
	}
	dp.local = cfg.Batch / dp.size
	if dp.fullBatches, err = datasets.NewLoader(train, datasets.LoaderConfig{Batch: cfg.Batch, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers, DropLast: true}); err != nil {
		return nil, err
	}
	return dp, nil
}

// fingerprint hashes what every rank must share: the executable, the build
// settings and the run's configuration (paths excluded: they may differ per node).
func fingerprint(cfg *Config, train, test datasets.Dataset) ([32]byte, error) {
	h := sha256.New()
	if exe, err := os.Executable(); err == nil {
		if f, err := os.Open(exe); err == nil {
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return [32]byte{}, fmt.Errorf("recipes: hash %s: %w", exe, err)
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintln(h, bi.String())
	}
	th, tw, tc := train.Shape()
	shared := struct {
		Run                              RunConfig
		Model, Recipe, Dataset, Tag      string
		Opt                              any
		FinalLR                          float32
		Warmup, MaxSteps, EvalLimit      int
		EvalBatch, TrainLen, TestLen     int
		Shape                            [3]int
		SyncBN, Resume, InitFrom, Output bool
	}{cfg.runConfig(), cfg.Model.String(), cfg.Recipe, cfg.Dataset, dist.Tag, cfg.Opt, cfg.FinalLR,
		cfg.Warmup, cfg.MaxSteps, cfg.EvalLimit, cfg.EvalBatch, train.Len(), test.Len(), [3]int{th, tw, tc},
		cfg.SyncBN, cfg.Resume != "", cfg.InitFrom != "", cfg.Out != ""}
	b, err := json.Marshal(shared)
	if err != nil {
		return [32]byte{}, fmt.Errorf("recipes: configuration fingerprint: %w", err)
	}
	h.Write(b)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// root reports whether this process logs and writes checkpoints (rank 0).
func (dp *dataParallel) root() bool { return dp == nil || dp.rank == 0 }

// batchSource yields an epoch's batches: a datasets.Loader or a rank's shard of one.
type batchSource interface {
	StepsPerEpoch() int
	Epoch(epoch int) *datasets.Iter
}

// newLoader returns the training batches of this rank.
func (dp *dataParallel) newLoader(train datasets.Dataset, cfg *Config) (batchSource, error) {
	if dp == nil {
		return datasets.NewLoader(train, datasets.LoaderConfig{Batch: cfg.Batch, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers, DropLast: true})
	}
	steps := dp.fullBatches.StepsPerEpoch()
	v := &shardView{Dataset: train, full: dp.fullBatches, idx: make([]int, steps*dp.local)}
	l, err := datasets.NewLoader(v, datasets.LoaderConfig{Batch: dp.local, Workers: cfg.Workers, DropLast: true})
	if err != nil {
		return nil, err
	}
	return &shardLoader{dp: dp, view: v, l: l}, nil
}

type shardLoader struct {
	dp   *dataParallel
	view *shardView
	l    *datasets.Loader
}

func (s *shardLoader) StepsPerEpoch() int { return s.l.StepsPerEpoch() }

// Epoch points the view at this rank's rows of epoch's one-process batches.
// The previous epoch's Iter must be closed.
func (s *shardLoader) Epoch(epoch int) *datasets.Iter {
	order, g, b := s.dp.fullBatches.Order(epoch), s.dp.local*s.dp.size, s.dp.local
	for k := range s.l.StepsPerEpoch() {
		copy(s.view.idx[k*b:(k+1)*b], order[k*g+s.dp.rank*b:])
	}
	s.view.epoch = epoch
	return s.l.Epoch(epoch)
}

// shardView is the examples idx of a dataset, each with the transform RNG the
// one-process loader gives it in epoch (so random crops and flips match too).
type shardView struct {
	datasets.Dataset
	full  *datasets.Loader
	idx   []int
	epoch int
}

func (v *shardView) Len() int { return len(v.idx) }

func (v *shardView) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	if rng != nil {
		rng = v.full.ExampleRNG(v.epoch, v.idx[i])
	}
	return v.Dataset.Example(v.idx[i], x, rng)
}

// rangeView is examples [lo, hi) of a dataset.
type rangeView struct {
	datasets.Dataset
	lo, hi int
}

func (v rangeView) Len() int { return v.hi - v.lo }
func (v rangeView) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	return v.Dataset.Example(v.lo+i, x, rng)
}

// newNet compiles this rank's training graph: B rows starting at global row r·B,
// BatchNorm synchronised when asked.
func (dp *dataParallel) newNet(m *models.Model, cfg *Config, step *uint64) (*Net, error) {
	if dp == nil {
		return NewNet(m, cfg.Batch, true, step)
	}
	return newNet(m, dp.local, true, step, func(g *layers.Graph) {
		g.Row0 = dp.rank * dp.local
		if dp.syncBN {
			g.SyncBN = dp.comm.AllReduceF32
		}
	}, shareBuffers)
}

// prepare makes every rank start from rank 0's parameters and states (the initial
// weights, or the resumed checkpoint's) and, on a fresh run, sets the quantizer
// parameters that a model initialises from its first batch (LSQ's input steps,
// lazy k-means centroids: those still all zero) from the whole first global batch
// of epoch, on every rank, as one process would.
func (dp *dataParallel) prepare(m *models.Model, train datasets.Dataset, cfg *Config, fresh bool, epoch int, step *uint64) error {
	if dp == nil {
		return nil
	}
	if err := dp.bcastModel(m); err != nil {
		return err
	}
	for _, s := range m.States() {
		if s.Pull == nil && !dp.syncBN { // live data: BatchNorm running statistics
			dp.states = append(dp.states, s)
		}
	}
	if !fresh || !hasLazyQuant(m) {
		return nil
	}
	return dp.calibrate(m, train, cfg, epoch, step)
}

// bcastModel copies rank 0's parameters and states to every rank.
func (dp *dataParallel) bcastModel(m *models.Model) error {
	ts := modelTensors(m)
	n := 0
	for _, t := range ts {
		if t.Pull != nil {
			t.Pull()
		}
		n += len(t.Data)
	}
	buf := make([]float32, 0, n)
	for _, t := range ts {
		buf = append(buf, t.Data...)
	}
	for lo := 0; lo < len(buf); lo += dist.BucketValues {
		if err := dp.comm.BcastF32(0, buf[lo:min(lo+dist.BucketValues, len(buf))]); err != nil {
			return fmt.Errorf("recipes: broadcast the initial model: %w", err)
		}
	}
	off := 0
	for _, t := range ts {
		off += copy(t.Data, buf[off:])
		if t.Push != nil {
			t.Push()
		}
	}
	return nil
}

// hasLazyQuant reports whether some quantizer parameter is all zero: set from data.
func hasLazyQuant(m *models.Model) bool {
	for _, p := range m.Params() {
		if p.Kind != layers.QuantParam {
			continue
		}
		zero := true
		for _, v := range p.Data() {
			zero = zero && v == 0
		}
		if zero {
			return true
		}
	}
	return false
}

// calibrate runs the first global batch of epoch forward through a training-mode
// graph (no backward pass: no gradient-noise counter moves), keeping the
// BatchNorm running statistics it would change.
func (dp *dataParallel) calibrate(m *models.Model, train datasets.Dataset, cfg *Config, epoch int, step *uint64) error {
	v := &shardView{Dataset: train, full: dp.fullBatches, idx: dp.fullBatches.Order(epoch)[:cfg.Batch], epoch: epoch}
	l, err := datasets.NewLoader(v, datasets.LoaderConfig{Batch: cfg.Batch, Workers: cfg.Workers})
	if err != nil {
		return err
	}
	it := l.Epoch(epoch)
	defer it.Close()
	var b datasets.Batch
	if !it.Next(&b) {
		return fmt.Errorf("recipes: calibration batch: %w", it.Err())
	}
	saved := m.States()
	keep := make([][]float32, len(saved))
	for i, s := range saved {
		keep[i] = append([]float32(nil), s.Data...)
	}
	stepCopy := *step
	g := layers.NewGraph(true, &stepCopy)
	xn, xt := g.Input("x", append([]int{cfg.Batch}, m.Spec.Input...)...)
	if _, err := m.Forward(g, xn); err != nil {
		return err
	}
	copy(xt.Data().([]float32), b.X)
	vm := gorgonia.NewTapeMachine(g.G)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return fmt.Errorf("recipes: calibration pass: %w", err)
	}
	for i, s := range saved {
		copy(s.Data, keep[i])
	}
	return nil
}

// reduce averages this step's gradients (and per-rank BatchNorm running
// statistics) over the ranks, in place, and returns the global batch's mean
// loss, correct count and size. A non-finite loss on any rank makes the mean
// non-finite on every rank, so all stop with the same error.
func (dp *dataParallel) reduce(tn *Net, loss float32, correct, n int) (float32, int, int, error) {
	if dp == nil {
		return loss, correct, n, nil
	}
	grads := tn.Grads()
	size := 3
	for _, g := range grads {
		size += len(g)
	}
	for _, s := range dp.states {
		size += len(s.Data)
	}
	if cap(dp.buf) < size {
		dp.buf = make([]float32, 0, size)
	}
	buf := dp.buf[:0]
	for _, g := range grads {
		buf = append(buf, g...)
	}
	for _, s := range dp.states {
		buf = append(buf, s.Data...)
	}
	// Loss, correct count and rows, scaled so that the mean makes them sums.
	k := float32(dp.size)
	buf = append(buf, loss, float32(correct)*k, float32(n)*k)
	dp.buf = buf
	t0 := time.Now()
	if err := dist.AllReduceMean(dp.comm, buf); err != nil {
		return 0, 0, 0, fmt.Errorf("recipes: gradient allreduce: %w", err)
	}
	dp.comm1 = time.Since(t0)
	off := 0
	for _, g := range grads {
		off += copy(g, buf[off:])
	}
	for _, s := range dp.states {
		off += copy(s.Data, buf[off:])
	}
	return buf[off], int(math.Round(float64(buf[off+1]))), int(math.Round(float64(buf[off+2]))), nil
}

// evaluate is Evaluate on this rank's contiguous share of the test examples,
// with the counts and loss sums added over the ranks.
func (dp *dataParallel) evaluate(e *Evaluator, m *models.Model, ds datasets.Dataset, batch, workers, limit int) (acc, loss float64, err error) {
	if dp == nil {
		return e.Evaluate(m, ds, batch, workers, limit)
	}
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	lo, hi := dist.Shard(n, dp.rank, dp.size)
	sums := make([]float64, 3) // correct, loss sum, examples
	if hi > lo {
		a, l, err := e.Evaluate(m, rangeView{ds, lo, hi}, batch, workers, 0)
		if err != nil {
			return 0, 0, err
		}
		sums[0], sums[1], sums[2] = math.Round(a*float64(hi-lo)), l*float64(hi-lo), float64(hi-lo)
	}
	if err := dp.comm.AllReduceF64(sums); err != nil {
		return 0, 0, fmt.Errorf("recipes: evaluation allreduce: %w", err)
	}
	if sums[2] == 0 {
		return 0, 0, fmt.Errorf("recipes: evaluation set is empty")
	}
	return sums[0] / sums[2], sums[1] / sums[2], nil
}
