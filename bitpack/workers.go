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
// the processor to other goroutines now and then: yielding at every poll
// let the helper drift onto the caller's processor and left the other
// idle), then park, and exit after helperIdle without a region: a
// process (or a Model) that stops predicting keeps no goroutines.
//
// A region's rows are split into threads×chunksPerThread chunks of
// nearly equal size, fixed by the row and thread counts alone; each
// participant (0 is the caller) owns a contiguous run of chunksPerThread
// of them and works through it front to back, then takes chunks from the
// back of the others' runs that are not started yet: a helper that wakes
// late or is descheduled delays the region by a chunk at most. Keeping
// rows with their owner matters as much as the wake-up cost: consecutive
// layers of one size split alike, so each core mostly reads what it
// wrote itself (on the 2-core machine a pass over rows written by the
// other core ran 2.5× slower than on one core). Which goroutine runs a
// chunk never changes what the chunk computes, so results do not depend
// on timing. f's first argument is the participant's index, always below
// the region's threads, for per-thread scratch.

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

// maxHelpers bounds the team (the region word holds 8 bits of threads,
// a run's front and back 16 bits).
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

// team runs parallel regions. A region is published as gen<<8|threads
// in word, after the chunk runs of its participants: q[t] holds
// gen<<32 | front<<16 | back, the chunks [front, back) of participant
// t's run not yet claimed. A claim moves front (the owner) or back (the
// others) by compare-and-swap, only while the run's gen is the region's;
// the claimer then reads the region's fields, which stay fixed until
// every claimed chunk is done (pending = 0).
type team struct {
	mu      sync.Mutex // held by the goroutine running a region
	word    atomic.Uint64
	q       [maxHelpers + 1]paddedWord
	pending atomic.Int64
	gen     uint64 // the last region's (written under mu)
	f       func(t, r0, r1 int)
	rows    int
	chunks  int
	helpers []*helper

	waiting atomic.Bool   // the caller is blocked on done
	done    chan struct{} // capacity 1
	resting atomic.Bool   // helpers park without spinning (restHelpers)
}

// paddedWord is an atomic word alone on its cache line.
type paddedWord struct {
	atomic.Uint64
	_ [56]byte
}

var theTeam = &team{done: make(chan struct{}, 1)}

// wholePasses counts the goroutines running whole-network passes side by
// side (Model.Predict's batch split): while there are any, the cores are
// busy and every region runs on its caller.
var wholePasses atomic.Int32

// restHelpers makes spinning helpers park at once: the caller is about to
// run long work with goroutines of its own (a large float layer), which a
// spinning helper would keep from a processor. A parked helper takes
// longer to wake, so short float layers leave the helpers spinning.
func restHelpers() { theTeam.resting.Store(true) }

// claim takes a chunk of the current region for participant id: the
// next of its own run, else the last of another's; ok is false when
// none is left (or id is not among the region's threads).
func (tm *team) claim(id int) (i int, ok bool) {
	w := tm.word.Load()
	gen, threads := w>>8, int(w&0xFF)
	if id >= threads {
		return 0, false
	}
	for k := 0; k < threads; k++ {
		v := (id + k) % threads
		for {
			qw := tm.q[v].Load()
			front, back := int(qw>>16&0xFFFF), int(qw&0xFFFF)
			if qw>>32 != gen&0xFFFFFFFF || front >= back {
				break
			}
			if k == 0 && tm.q[v].CompareAndSwap(qw, qw+1<<16) {
				return front, true
			}
			if k > 0 && tm.q[v].CompareAndSwap(qw, qw-1) {
				return back - 1, true
			}
		}
	}
	return 0, false
}

// bounds returns chunk i's rows: the chunks split the rows evenly, at
// multiples of the 4-row micro-tile.
func (tm *team) bounds(i int) (r0, r1 int) {
	at := func(i int) int {
		if i >= tm.chunks {
			return tm.rows
		}
		return min((i*tm.rows/tm.chunks+3)&^3, tm.rows)
	}
	return at(i), at(i + 1)
}

// work runs chunks of the current region for participant id until none
// is left to claim.
func (tm *team) work(id int) {
	for {
		i, ok := tm.claim(id)
		if !ok {
			return
		}
		if r0, r1 := tm.bounds(i); r0 < r1 {
			tm.f(id, r0, r1)
		}
		if tm.pending.Add(-1) == 0 && tm.waiting.CompareAndSwap(true, false) {
			tm.done <- struct{}{}
		}
	}
}

// claimable reports whether participant id may claim a chunk now.
func (tm *team) claimable(id int) bool {
	w := tm.word.Load()
	gen, threads := w>>8&0xFFFFFFFF, int(w&0xFF)
	if id >= threads {
		return false
	}
	for v := 0; v < threads; v++ {
		if qw := tm.q[v].Load(); qw>>32 == gen && qw>>16&0xFFFF < qw&0xFFFF {
			return true
		}
	}
	return false
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

// spinFor polls for a chunk participant id may claim for helperSpin (or
// until restHelpers), yielding the processor every 256 polls; it reports
// whether one came.
func (tm *team) spinFor(id int) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if tm.claimable(id) {
			return true
		}
		if tm.resting.Load() || i%64 == 63 && time.Since(start) > helperSpin {
			return false
		}
		if i%256 == 255 {
			runtime.Gosched()
		}
	}
}

// run runs a region on the caller and up to threads−1 helpers; the
// caller holds tm.mu.
func (tm *team) run(rows, threads int, f func(t, r0, r1 int)) {
	tm.f, tm.rows, tm.chunks = f, rows, threads*chunksPerThread
	tm.resting.Store(false)
	tm.pending.Store(int64(tm.chunks))
	tm.gen++
	g := tm.gen & 0xFFFFFFFF
	for t := 0; t < threads; t++ {
		tm.q[t].Store(g<<32 | uint64(t*chunksPerThread)<<16 | uint64((t+1)*chunksPerThread))
	}
	tm.word.Store(tm.gen<<8 | uint64(threads))
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
		if i%64 == 63 && time.Since(start) > regionSpin {
			tm.waiting.Store(true)
			if tm.pending.Load() != 0 || !tm.waiting.CompareAndSwap(true, false) {
				<-tm.done
			}
			return
		}
		if i%256 == 255 {
			runtime.Gosched()
		}
	}
}

// parallelRows runs f over [0,rows) in chunks of whole 4-row micro-tiles
// on up to threads goroutines.
func parallelRows(rows, threads int, f func(r0, r1 int)) {
	parallelChunks(rows, threads, func(_, r0, r1 int) { f(r0, r1) })
}

// parallelChunks is parallelRows passing f the index t < threads of the
// goroutine running the chunk (0: the caller), for per-thread scratch.
// The chunks start at multiples of 4 rows; their bounds depend only on
// rows and threads.
func parallelChunks(rows, threads int, f func(t, r0, r1 int)) {
	threads = min(threads, runtime.GOMAXPROCS(0), maxHelpers+1)
	// Another region running (a concurrent call, or f starting one) or
	// whole passes side by side keep the cores busy already.
	if threads <= 1 || rows <= 4 || wholePasses.Load() > 0 || !theTeam.mu.TryLock() {
		f(0, 0, rows)
		return
	}
	defer theTeam.mu.Unlock()
	theTeam.run(rows, threads, f)
}
