package datasets

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Batch is one mini-batch: X holds N examples of h*w*c values (NHWC) and Y
// their labels. Next reuses X and Y, so a caller that keeps a batch past
// the following call to Next must copy it.
type Batch struct {
	X []float32
	Y []int32
	N int
}

// LoaderConfig configures a Loader. Zero Workers means GOMAXPROCS and zero
// Prefetch means 2 batches decoded ahead.
type LoaderConfig struct {
	Batch    int    // examples per batch; must be positive
	Shuffle  bool   // permute the examples anew each epoch
	Seed     uint64 // seeds the shuffle and the per-example transform RNGs
	Workers  int    // goroutines decoding examples
	Prefetch int    // batches decoded ahead of the consumer
	DropLast bool   // drop the last, partial batch
	// Eval passes a nil rng to Example: deterministic transforms, as for
	// evaluation, whatever the dataset's pipeline.
	Eval bool
}

// Loader yields the batches of a Dataset, decoding on several workers.
//
// The order of epoch e is rand.New(rand.NewPCG(Seed, e)).Perm(Len) (the
// identity without Shuffle) and example i of epoch e gets the transform RNG
// PCG(Seed ^ mix(e), i), so the batches depend only on (Seed, epoch, Batch)
// and not on Workers or Prefetch: a resumed run reproduces them.
type Loader struct {
	ds   Dataset
	cfg  LoaderConfig
	n    int
	size int // values per example
}

// NewLoader checks cfg against ds and returns a Loader.
func NewLoader(ds Dataset, cfg LoaderConfig) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("datasets: loader: nil dataset")
	}
	if cfg.Batch <= 0 {
		return nil, fmt.Errorf("datasets: loader: batch size %d: want > 0", cfg.Batch)
	}
	if cfg.Workers < 0 || cfg.Prefetch < 0 {
		return nil, fmt.Errorf("datasets: loader: negative workers (%d) or prefetch (%d)", cfg.Workers, cfg.Prefetch)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2
	}
	h, w, c := ds.Shape()
	if h <= 0 || w <= 0 || c <= 0 {
		return nil, fmt.Errorf("datasets: loader: dataset shape %dx%dx%d", h, w, c)
	}
	n := ds.Len()
	if n <= 0 {
		return nil, errors.New("datasets: loader: empty dataset")
	}
	return &Loader{ds: ds, cfg: cfg, n: n, size: h * w * c}, nil
}

// StepsPerEpoch is the number of batches of one epoch.
func (l *Loader) StepsPerEpoch() int {
	if l.cfg.DropLast {
		return l.n / l.cfg.Batch
	}
	return (l.n + l.cfg.Batch - 1) / l.cfg.Batch
}

// Order returns the example indices of epoch in the order they are batched.
func (l *Loader) Order(epoch int) []int {
	if !l.cfg.Shuffle {
		o := make([]int, l.n)
		for i := range o {
			o[i] = i
		}
		return o
	}
	return rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch))).Perm(l.n)
}

// exampleSeed is the first PCG seed word of every example of epoch (the
// second is the example index).
func (l *Loader) exampleSeed(epoch int) uint64 {
	// splitmix64 finaliser: decorrelates consecutive epochs.
	z := uint64(epoch) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return l.cfg.Seed ^ z ^ (z >> 31)
}

// ExampleRNG returns the transform RNG the Loader gives example index in
// epoch, to reproduce one example outside a Loader.
func (l *Loader) ExampleRNG(epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(l.exampleSeed(epoch), uint64(index)))
}

// Iter walks the batches of one epoch. Call Close when done early.
type Iter struct {
	l       *Loader
	order   []int
	steps   int
	next    int
	slots   []slot
	free    chan int
	jobs    chan job
	stop    chan struct{}
	wg      sync.WaitGroup
	err     error
	skipped int
	closed  bool
}

type slot struct {
	x         []float32
	y         []int32
	skip      []bool
	count     int
	remaining atomic.Int32
	ready     chan struct{}
	mu        sync.Mutex
	err       error
	errPos    int
}

type job struct{ slot, pos, index int }

// Epoch starts decoding the batches of epoch.
func (l *Loader) Epoch(epoch int) *Iter {
	it := &Iter{
		l:     l,
		order: l.Order(epoch),
		steps: l.StepsPerEpoch(),
		slots: make([]slot, l.cfg.Prefetch),
		free:  make(chan int, l.cfg.Prefetch),
		jobs:  make(chan job, l.cfg.Batch),
		stop:  make(chan struct{}),
	}
	for i := range it.slots {
		s := &it.slots[i]
		s.x = make([]float32, l.cfg.Batch*l.size)
		s.y = make([]int32, l.cfg.Batch)
		s.skip = make([]bool, l.cfg.Batch)
		s.ready = make(chan struct{}, 1)
		it.free <- i
	}
	seed := l.exampleSeed(epoch)
	it.wg.Add(1 + l.cfg.Workers)
	go it.dispatch()
	for range l.cfg.Workers {
		go it.work(seed)
	}
	return it
}

// dispatch hands out the examples of each batch once a slot is free. Slots
// are freed in batch order, so batch k always lands in slot k % Prefetch.
func (it *Iter) dispatch() {
	defer it.wg.Done()
	defer close(it.jobs)
	b := it.l.cfg.Batch
	for k := range it.steps {
		var si int
		select {
		case si = <-it.free:
		case <-it.stop:
			return
		}
		s := &it.slots[si]
		lo, hi := k*b, min((k+1)*b, it.l.n)
		s.count, s.err, s.errPos = hi-lo, nil, -1
		s.remaining.Store(int32(hi - lo))
		for pos := range hi - lo {
			select {
			case it.jobs <- job{slot: si, pos: pos, index: it.order[lo+pos]}:
			case <-it.stop:
				return
			}
		}
	}
}

func (it *Iter) work(seed uint64) {
	defer it.wg.Done()
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	size, classes := it.l.size, it.l.ds.NumClasses()
	for j := range it.jobs {
		s := &it.slots[j.slot]
		select {
		case <-it.stop:
			continue
		default:
		}
		var r *rand.Rand
		if !it.l.cfg.Eval {
			pcg.Seed(seed, uint64(j.index))
			r = rng
		}
		label, err := it.l.ds.Example(j.index, s.x[j.pos*size:(j.pos+1)*size], r)
		s.skip[j.pos] = false
		switch {
		case errors.Is(err, ErrSkipped):
			s.skip[j.pos] = true
		case err == nil && (label < 0 || label >= classes):
			err = fmt.Errorf("datasets: example %d: label %d outside [0, %d)", j.index, label, classes)
			fallthrough
		case err != nil:
			s.mu.Lock()
			if s.errPos < 0 || j.pos < s.errPos { // report the first in batch order
				s.err, s.errPos = err, j.pos
			}
			s.mu.Unlock()
		default:
			s.y[j.pos] = int32(label)
		}
		if s.remaining.Add(-1) == 0 {
			s.ready <- struct{}{}
		}
	}
}

// Next fills b with the next batch, reusing b's slices, and reports whether
// there was one. Skipped examples are left out, so b.N may be smaller than
// the batch size; a batch whose examples were all skipped is passed over.
func (it *Iter) Next(b *Batch) bool {
	for {
		if it.err != nil || it.closed || it.next >= it.steps {
			it.Close()
			return false
		}
		si := it.next % len(it.slots)
		s := &it.slots[si]
		<-s.ready
		it.next++
		if s.err != nil {
			it.err = s.err
			it.Close()
			return false
		}
		size, full := it.l.size, it.l.cfg.Batch
		if cap(b.X) < full*size {
			b.X = make([]float32, full*size)
		}
		if cap(b.Y) < full {
			b.Y = make([]int32, full)
		}
		b.X, b.Y = b.X[:cap(b.X)], b.Y[:cap(b.Y)]
		n := 0
		for pos := range s.count {
			if s.skip[pos] {
				it.skipped++
				continue
			}
			copy(b.X[n*size:(n+1)*size], s.x[pos*size:(pos+1)*size])
			b.Y[n] = s.y[pos]
			n++
		}
		it.free <- si
		if n == 0 {
			continue
		}
		b.N, b.X, b.Y = n, b.X[:n*size], b.Y[:n]
		return true
	}
}

// Err returns the error that ended the epoch early, if any.
func (it *Iter) Err() error { return it.err }

// Skipped is the number of examples left out so far (corrupt images of a
// non-strict ImageFolder).
func (it *Iter) Skipped() int { return it.skipped }

// Close stops the workers and waits for them. It is safe to call twice.
func (it *Iter) Close() {
	if it.closed {
		return
	}
	it.closed = true
	close(it.stop)
	it.wg.Wait()
}
