package parallel

import (
	"sync"
	"sync/atomic"
)

// The worker pool behind Run and Rows: a fixed set of goroutines, grown
// on demand up to the largest parallelism ever asked for (Rows used to
// start a goroutine per call). gemm keeps a pool of its own: sharing this
// one made the inference engine's ResNet-20 at batch 1 scale worse on 2
// threads in full `lowbit bench infer` runs (0.76-0.92 of the 1-thread
// time in 4 of 6 runs; 0.56-0.57 in 3 of 3 with gemm's own pool), for a
// reason not found.

// Runner splits its work into parts numbered 0..n-1 that may run
// concurrently.
type Runner interface{ RunPart(i int) }

// job is one Run call: parts are claimed through next, so the caller
// starts at once and a helper that wakes late just takes fewer.
type job struct {
	r       Runner
	n       int
	next    atomic.Int64
	helpers sync.WaitGroup
}

var (
	jobCh   = make(chan *job, 64)
	jobPool = sync.Pool{New: func() any { return new(job) }}

	workersMu sync.Mutex
	workers   int
)

// Run runs r's parts 0..n-1 on up to t goroutines (the caller's
// included) and returns when all are done. Which goroutine runs a part
// must not change its result.
func Run(r Runner, n, t int) {
	t = min(t, n)
	if t <= 1 {
		for i := range n {
			r.RunPart(i)
		}
		return
	}
	ensureWorkers(t - 1)
	j := jobPool.Get().(*job)
	j.r, j.n = r, n
	j.next.Store(0)
	for range t - 1 {
		j.helpers.Add(1)
		select {
		case jobCh <- j:
		default: // queue full: the caller does the work itself
			j.helpers.Done()
		}
	}
	j.work()
	// Wait for every helper, even one that found nothing left to claim,
	// before j is reused.
	j.helpers.Wait()
	j.r = nil
	jobPool.Put(j)
}

func (j *job) work() {
	for {
		i := int(j.next.Add(1)) - 1
		if i >= j.n {
			return
		}
		j.r.RunPart(i)
	}
}

func ensureWorkers(n int) {
	workersMu.Lock()
	for ; workers < n; workers++ {
		go worker()
	}
	workersMu.Unlock()
}

func worker() {
	for j := range jobCh {
		j.work()
		j.helpers.Done()
	}
}
