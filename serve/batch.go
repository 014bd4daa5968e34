package serve

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lowbit/lowbit/classify"
)

// errClosed reports a request that arrived after Close.
var errClosed = errors.New("serve: shutting down")

// job is one queued request: its input tensor and where its answer goes.
type job struct {
	x   []float32
	k   int
	out chan result // buffered, 1
}

type result struct {
	labels []classify.Label
	batch  int // size of the batch it ran in
	err    error
}

// batcher runs queued jobs in batches of at most max, waiting up to wait
// after the first for more.
type batcher struct {
	c    *classify.Classifier
	max  int
	wait time.Duration

	mu     sync.RWMutex // guards closed against sends on jobs
	closed bool
	jobs   chan *job
	done   chan struct{}
	queued atomic.Int64 // jobs submitted and not yet answered
	// arriving counts requests being read and decoded, not yet submitted
	// (the handler adds 1 on entry; submit or the handler's error path
	// takes it back).
	arriving atomic.Int64
	// hold, when set (tests), runs before each batch.
	hold func()
}

func newBatcher(c *classify.Classifier, max int, wait time.Duration) *batcher {
	b := &batcher{c: c, max: max, wait: wait, jobs: make(chan *job, max), done: make(chan struct{})}
	go b.loop()
	return b
}

// submit queues x and waits for its answer; the caller counted itself in
// arriving.
func (b *batcher) submit(x []float32, k int) result {
	j := &job{x: x, k: k, out: make(chan result, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		b.arriving.Add(-1)
		return result{err: errClosed}
	}
	b.queued.Add(1)
	b.jobs <- j
	b.arriving.Add(-1)
	b.mu.RUnlock()
	r := <-j.out
	b.queued.Add(-1)
	return r
}

// close stops new jobs and returns once every queued job has its answer.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.jobs)
	}
	b.mu.Unlock()
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	for first := range b.jobs {
		batch := b.collect(first)
		if b.hold != nil {
			b.hold()
		}
		b.run(batch)
	}
}

// poll is how often collect looks again for requests still being decoded.
const poll = 100 * time.Microsecond

// collect gathers up to max jobs. It waits, at most b.wait after the
// first, only while other requests are being read and decoded (arriving):
// a lone client is never delayed, concurrent ones share a run.
func (b *batcher) collect(first *job) []*job {
	batch := []*job{first}
	deadline := time.Now().Add(b.wait)
	t := time.NewTimer(poll)
	defer t.Stop()
	for len(batch) < b.max {
		select {
		case j, ok := <-b.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
			continue
		default:
		}
		if b.arriving.Load() <= 0 || !time.Now().Before(deadline) {
			return batch
		}
		t.Reset(min(poll, time.Until(deadline)))
		select {
		case j, ok := <-b.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		case <-t.C:
		}
	}
	return batch
}

// run predicts a batch at the largest k asked and answers each job.
func (b *batcher) run(batch []*job) {
	per := b.c.InputLen()
	x := make([]float32, 0, len(batch)*per)
	k := 1
	for _, j := range batch {
		x = append(x, j.x...)
		k = max(k, j.k)
	}
	labels, err := b.c.Predict(x, len(batch), k)
	for i, j := range batch {
		if err != nil {
			j.out <- result{err: err}
			continue
		}
		j.out <- result{labels: labels[i][:min(j.k, len(labels[i]))], batch: len(batch)}
	}
}
