package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/recipes"
)

// ServeTrain builds one config, runs w.Warmup untimed steps, then answers
// requests on in until "quit" (one line each way):
//
//	on start, after warm-up: "ready SECONDS_OF_LAST_WARMUP_STEP"
//	"run N"  → "done SECONDS BYTES MALLOCS" (totals over the N steps)
//	"quit"   → "peak KB" (VmHWM of this process)
//
// A failure is reported as "error MESSAGE" and returned. A step is what
// recipes.Train does per batch: forward, backward, the recipe's optimizer
// step (constant learning rate) and latent-weight clipping.
func ServeTrain(w TrainWorker, in io.Reader, out io.Writer) error {
	fail := func(err error) error {
		fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	step, err := newTrainStep(w)
	if err != nil {
		return fail(err)
	}
	defer step.net.Close()
	var last time.Duration // the last warm-up step: the first ones fault in buffers
	for range max(w.Warmup, 1) {
		t0 := time.Now()
		if err := step.run(); err != nil {
			return fail(err)
		}
		last = time.Since(t0)
	}
	fmt.Fprintf(out, "ready %.9f\n", last.Seconds())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
		case f[0] == "run" && len(f) == 2:
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 {
				return fail(fmt.Errorf("bench: bad request %q", sc.Text()))
			}
			if err := step.timed(n, out); err != nil {
				return fail(err)
			}
		case f[0] == "quit":
			fmt.Fprintf(out, "peak %d\n", peakRSSKB())
			return nil
		default:
			return fail(fmt.Errorf("bench: unknown request %q", sc.Text()))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("bench: input closed before quit")
}

// timed runs n steps and replies "done SECONDS BYTES MALLOCS".
func (s *trainStep) timed(n int, out io.Writer) error {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	for range n {
		if err := s.run(); err != nil {
			return err
		}
	}
	dt := time.Since(t0)
	runtime.ReadMemStats(&m1)
	fmt.Fprintf(out, "done %.9f %d %d\n", dt.Seconds(), m1.TotalAlloc-m0.TotalAlloc, m1.Mallocs-m0.Mallocs)
	return nil
}

// peakRSSKB is PeakRSS in kB, 0 when unknown.
func peakRSSKB() int64 {
	b, err := PeakRSS()
	if err != nil {
		return 0
	}
	return b >> 10
}

// trainStep is one compiled training step on a fixed random batch.
type trainStep struct {
	net     *recipes.Net
	opt     optim.Optimizer
	params  []*optim.Param
	lr      float32
	clip    float32
	x       []float32
	y       []int32
	batch   int
	counter uint64
}

func newTrainStep(w TrainWorker) (*trainStep, error) {
	r, err := recipes.Lookup(w.Recipe)
	if err != nil {
		return nil, err
	}
	spec := r.Config(w.Model, "").Model
	spec.Seed = w.Seed
	m, err := models.New(spec)
	if err != nil {
		return nil, err
	}
	s := &trainStep{batch: batchFor(w.Model, w.Batch), lr: r.LR, clip: r.LatentClip}
	if s.lr == 0 {
		s.lr = 1e-3
	}
	name := r.Optimizer
	if name == "" {
		name = "adam" // recipes.Config's default
	}
	if s.opt, err = optim.New(name, r.Opt); err != nil {
		return nil, err
	}
	if s.net, err = recipes.NewNet(m, s.batch, true, &s.counter); err != nil {
		return nil, err
	}
	s.params = recipes.OptimParams(s.net.Params())
	rng := rand.New(rand.NewPCG(w.Seed, 0x7a11))
	per := 1
	for _, d := range m.Spec.Input {
		per *= d
	}
	s.x = make([]float32, s.batch*per)
	for i := range s.x {
		s.x[i] = rng.Float32()
	}
	s.y = make([]int32, s.batch)
	for i := range s.y {
		s.y[i] = int32(rng.IntN(m.Spec.Classes))
	}
	return s, nil
}

func (s *trainStep) run() error {
	if err := s.net.Run(s.x, s.y, s.batch); err != nil {
		return err
	}
	for i, g := range s.net.Grads() {
		s.params[i].Grad = g
	}
	if err := s.opt.Step(s.params, s.lr); err != nil {
		return err
	}
	if s.clip > 0 {
		if err := optim.ClipLatent(s.params, s.clip); err != nil {
			return err
		}
	}
	s.counter++
	return nil
}
