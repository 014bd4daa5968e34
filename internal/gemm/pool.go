package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threads is the parallelism limit; 0 means runtime.GOMAXPROCS(0).
var threads atomic.Int64

// SetThreads limits how many goroutines one Sgemm, Im2col or Col2im call
// uses. n < 1 restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	if n < 1 {
		n = 0
	}
	threads.Store(int64(n))
}

// Threads reports the parallelism limit set by SetThreads.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// A runner splits its work into parts numbered 0..n-1 that may run
// concurrently.
type runner interface{ runPart(i int) }

// job is one parallel call: parts are claimed through next, so the caller
// starts at once and a worker that wakes late just helps with what is left.
type job struct {
	r       runner
	n       int
	next    atomic.Int64
	helpers sync.WaitGroup
}

func (j *job) work() {
	for {
		i := int(j.next.Add(1)) - 1
		if i >= j.n {
			return
		}
		j.r.runPart(i)
	}
}

// The worker pool: a fixed set of goroutines, grown on demand up to the
// largest parallelism ever asked for. Sending a *job allocates nothing.
var (
	jobCh     = make(chan *job, 64)
	workersMu sync.Mutex
	workers   int
	jobPool   = sync.Pool{New: func() any { return new(job) }}
)

func ensureWorkers(n int) {
	workersMu.Lock()
	for ; workers < n; workers++ {
		go func() {
			for j := range jobCh {
				j.work()
				j.helpers.Done()
			}
		}()
	}
	workersMu.Unlock()
}

// PartsRunner runs parts 0..n-1 of a call on up to t goroutines (the
// caller's included), calling part for each exactly once, and returns
// true when all are done; it returns false, having run none, to leave
// the call to the package's own workers.
type PartsRunner func(n, t int, part func(i int)) bool

// offer is what SetPartsRunner set: parallel calls offer their parts to
// run while *active > 0.
type offer struct {
	run    PartsRunner
	active *atomic.Int32
}

var partsOffer atomic.Pointer[offer]

// SetPartsRunner makes parallel calls offer their parts to f first while
// *active > 0 (f nil: never). A package with its own team of goroutines
// (bitpack's) uses it so that a float layer and the layers around it run
// on the same warm goroutines. Which goroutine runs a part never changes
// its result.
func SetPartsRunner(f PartsRunner, active *atomic.Int32) {
	if f == nil || active == nil {
		partsOffer.Store(nil)
		return
	}
	partsOffer.Store(&offer{run: f, active: active})
}

// parallel runs r's parts 0..n-1 on up to t goroutines (the caller's
// included) and returns when all are done.
func parallel(r runner, n, t int) {
	t = min(t, n)
	if t <= 1 {
		for i := range n {
			r.runPart(i)
		}
		return
	}
	if o := partsOffer.Load(); o != nil && o.active.Load() > 0 && o.run(n, t, r.runPart) {
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
