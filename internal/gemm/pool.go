package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"

	par "github.com/lowbit/lowbit/internal/parallel"
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

// asRunner hands a runner to the worker pool of package parallel, which
// gemm shares with the elementwise kernels: one set of warm goroutines
// for a training step's products and the layers between them.
type asRunner struct{ r runner }

func (a *asRunner) RunPart(i int) { a.r.runPart(i) }

var asRunnerPool = sync.Pool{New: func() any { return new(asRunner) }}

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
	a := asRunnerPool.Get().(*asRunner)
	a.r = r
	par.Run(a, n, t)
	a.r = nil
	asRunnerPool.Put(a)
}
