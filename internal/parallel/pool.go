package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The worker pool behind Run and Rows, which gemm's products share: a
// fixed set of goroutines, grown on demand up to the largest parallelism
// ever asked for (Rows used to start a goroutine per call).

// Runner splits its work into parts numbered 0..n-1 that may run
// concurrently.
type Runner interface{ RunPart(i int) }

// job is one Run call: parts are claimed through next, so the caller
// starts at once and a helper that arrives late just takes fewer.
type job struct {
	r     Runner
	n     int
	next  atomic.Int64
	slots atomic.Int32 // helper places left; negative once the caller is done
	busy  atomic.Int32 // helpers inside the job
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
	j.slots.Store(int32(t - 1)) // opens the job to helpers
	for range t - 1 {
		select {
		case jobCh <- j:
		default: // queue full: the caller does the work itself
		}
	}
	j.work()
	j.slots.Store(-1 << 30) // a helper that comes later leaves at once
	for spins := 0; j.busy.Load() != 0; spins++ {
		if spins > 64 {
			runtime.Gosched()
		}
	}
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

// help joins j if it still has a place. A helper that receives j late
// (the caller finished and j went back to the pool, or on to another
// call) finds no place, or a place in the call j now serves: both are
// safe. The caller waits for the helpers inside, not for every one it
// sent j to.
func (j *job) help() {
	j.busy.Add(1)
	if j.slots.Add(-1) >= 0 {
		j.work()
	}
	j.busy.Add(-1)
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
		j.help()
	}
}
