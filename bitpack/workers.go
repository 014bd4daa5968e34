package bitpack

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The engine's parallel regions are short at batch 1 (tens to hundreds of
// µs per layer), so starting goroutines for each one costs more than it
// gains: a new goroutine waits for an idle thread to be woken, often as
// long as the region itself. The package therefore keeps one team of
// helper goroutines that, between regions, spin for a while (yielding
// the processor to other goroutines as they do), then park, and exit
// after helperIdle without a region: a process (or a Model) that stops
// predicting keeps no goroutines.
//
// A region is split into chunks of rows fixed by its size and thread
// count alone; the caller and the helpers claim chunks one at a time, so
// a helper that starts late only takes what is left. Which goroutine
// runs a chunk never changes what the chunk computes, so results do not
// depend on timing. f's first argument is the participant's index
// (0 for the caller), always below the region's threads, for per-thread
// scratch.

var (
	// helperSpin is how long a helper polls for the next region before
	// parking, and regionSpin how long the caller polls for the helpers'
	// last chunks before blocking (variables for the tests).
	helperSpin = 50 * time.Microsecond
	regionSpin = 50 * time.Microsecond
	// helperIdle is how long a parked helper waits for a region before
	// its goroutine exits.
	helperIdle = 100 * time.Millisecond
)

// chunksPerThread is how many chunks a region gets per thread: a helper
// that wakes late or is descheduled delays the region by one chunk at most.
const chunksPerThread = 4

// maxHelpers bounds the team (the region word holds 8 bits of threads).
const maxHelpers = 255

// Helper states.
const (
	helperExited int32 = iota
	helperRunning
	helperParked
)

type helper struct {
	id    int
	state atomic.Int32
	wake  chan struct{} // capacity 1
}

// team runs parallel regions. A region is published in word as
// chunks<<32 | threads<<24 | claimed; a participant claims chunk i by
// moving claimed from i to i+1 and then reads the region's fields, which
// stay fixed until every claimed chunk is done (pending = 0).
type team struct {
	mu      sync.Mutex // held by the goroutine running a region
	word    atomic.Uint64
	pending atomic.Int64
	f       func(t, r0, r1 int)
	rows    int
	chunk   int // rows per chunk
	helpers []*helper

	waiting atomic.Bool   // the caller is blocked on done
	done    chan struct{} // capacity 1
	resting atomic.Bool   // helpers park without spinning (restHelpers)
}

var theTeam = &team{done: make(chan struct{}, 1)}

// wholePasses counts the goroutines running whole-network passes side by
// side (Model.Predict's batch split): while there are any, the cores are
// busy and every region runs on its caller.
var wholePasses atomic.Int32

// restHelpers makes spinning helpers park at once: the caller is about to
// run work with goroutines of its own (the float kernels), which a
// spinning helper would keep from a processor.
func restHelpers() { theTeam.resting.Store(true) }

func regionWord(chunks, threads, claimed int) uint64 {
	return uint64(chunks)<<32 | uint64(threads)<<24 | uint64(claimed)
}

// claim takes the next chunk of the current region for participant id,
// returning false when none is left (or id is not among its threads).
func (tm *team) claim(id int) (i int, ok bool) {
	for {
		w := tm.word.Load()
		chunks, threads, claimed := int(w>>32), int(w>>24&0xFF), int(w&0xFFFFFF)
		if claimed >= chunks || id >= threads {
			return 0, false
		}
		if tm.word.CompareAndSwap(w, w+1) {
			return claimed, true
		}
	}
}

// work runs chunks of the current region for participant id until none
// is left to claim.
func (tm *team) work(id int) {
	for {
		i, ok := tm.claim(id)
		if !ok {
			return
		}
		r0 := i * tm.chunk
		tm.f(id, r0, min(r0+tm.chunk, tm.rows))
		if tm.pending.Add(-1) == 0 && tm.waiting.CompareAndSwap(true, false) {
			tm.done <- struct{}{}
		}
	}
}

// claimable reports whether participant id may claim a chunk now.
func (tm *team) claimable(id int) bool {
	w := tm.word.Load()
	return int(w&0xFFFFFF) < int(w>>32) && id < int(w>>24&0xFF)
}

// loop is a helper's goroutine.
func (tm *team) loop(h *helper) {
	timer := time.NewTimer(helperIdle)
	defer timer.Stop()
	for {
		tm.work(h.id)
		if tm.spinFor(h.id) {
			continue
		}
		h.state.Store(helperParked)
		if tm.claimable(h.id) && h.state.CompareAndSwap(helperParked, helperRunning) {
			continue
		}
		timer.Reset(helperIdle)
		select {
		case <-h.wake:
		case <-timer.C:
			if h.state.CompareAndSwap(helperParked, helperExited) {
				return
			}
			<-h.wake // a caller set helperRunning and is sending
		}
	}
}

// spinFor polls for a chunk participant id may claim for helperSpin,
// yielding the processor between polls; it reports whether one came.
func (tm *team) spinFor(id int) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if tm.claimable(id) {
			return true
		}
		if tm.resting.Load() || i%16 == 15 && time.Since(start) > helperSpin {
			return false
		}
		runtime.Gosched()
	}
}

// run runs a region of the given chunks on the caller and up to
// threads−1 helpers; the caller holds tm.mu.
func (tm *team) run(rows, chunk, threads int, f func(t, r0, r1 int)) {
	chunks := (rows + chunk - 1) / chunk
	tm.f, tm.rows, tm.chunk = f, rows, chunk
	tm.resting.Store(false)
	tm.pending.Store(int64(chunks))
	tm.word.Store(regionWord(chunks, threads, 0))
	tm.wakeHelpers(threads - 1)
	tm.work(0)
	tm.wait()
	tm.f = nil
}

// wakeHelpers makes the first n helpers look for the region, starting
// the goroutines of those that exited.
func (tm *team) wakeHelpers(n int) {
	for len(tm.helpers) < n {
		tm.helpers = append(tm.helpers, &helper{id: len(tm.helpers) + 1, wake: make(chan struct{}, 1)})
	}
	for _, h := range tm.helpers[:n] {
		switch {
		case h.state.CompareAndSwap(helperParked, helperRunning):
			h.wake <- struct{}{}
		case h.state.CompareAndSwap(helperExited, helperRunning):
			go tm.loop(h)
		}
	}
}

// wait returns when every chunk of the region is done: it polls for
// regionSpin, then blocks until the last chunk's participant signals.
func (tm *team) wait() {
	start := time.Now()
	for i := 0; tm.pending.Load() != 0; i++ {
		if i%16 == 15 && time.Since(start) > regionSpin {
			tm.waiting.Store(true)
			if tm.pending.Load() != 0 || !tm.waiting.CompareAndSwap(true, false) {
				<-tm.done
			}
			return
		}
		runtime.Gosched()
	}
}

// parallelRows runs f over [0,rows) in chunks of whole 4-row micro-tiles
// on up to threads goroutines.
func parallelRows(rows, threads int, f func(r0, r1 int)) {
	parallelChunks(rows, threads, func(_, r0, r1 int) { f(r0, r1) })
}

// parallelChunks is parallelRows passing f the index t < threads of the
// goroutine running the chunk (0: the caller), for per-thread scratch.
// The chunks are multiples of 4 rows; their bounds depend only on rows
// and threads.
func parallelChunks(rows, threads int, f func(t, r0, r1 int)) {
	threads = min(threads, runtime.GOMAXPROCS(0), maxHelpers+1)
	// Another region running (a concurrent call, or f starting one) or
	// whole passes side by side keep the cores busy already.
	if threads <= 1 || rows <= 4 || wholePasses.Load() > 0 || !theTeam.mu.TryLock() {
		f(0, 0, rows)
		return
	}
	defer theTeam.mu.Unlock()
	chunk := (rows + threads*chunksPerThread - 1) / (threads * chunksPerThread)
	theTeam.run(rows, (chunk+3)&^3, threads, f)
}
