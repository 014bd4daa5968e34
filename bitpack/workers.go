package bitpack

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lowbit/lowbit/internal/gemm"
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
// in word, after its fields and the chunk runs of its participants: q[t]
// holds gen<<32 | front<<16 | back, the chunks [front, back) of
// participant t's run not yet claimed. A claim moves front (the owner) or
// back (the others) by compare-and-swap, only while the run's gen is the
// region's; the claimer then reads the region's fields, which stay fixed
// until every claimed chunk is done (pending = 0). Each participant
// subtracts the chunks it ran from pending once, when it finds none left.
//
// Handing a region over costs the cache lines that move between cores,
// about 0.1–0.2 µs each on the 2-core machine, and ResNet-20 runs some 40
// regions of 3–40 µs per image; so the fields a region publishes share
// word's line, a waiting helper polls that line alone, the caller polls
// pending alone, and each participant writes pending once per region
// (a region took 0.9 µs with a write per chunk and polls of every run).
type team struct {
	mu sync.Mutex // held by the goroutine running a region
	_  [cacheLine - 8]byte

	// The region's header, written by the caller before word.
	word    atomic.Uint64
	resting atomic.Bool // helpers park without spinning (restHelpers)
	f       func(t, r0, r1 int)
	rows    int
	unit    int // chunks start at multiples of unit rows
	chunks  int
	_       [cacheLine - 48]byte

	q [maxHelpers + 1]paddedWord

	// The join: written by the participants, polled by the caller.
	pending atomic.Int64
	waiting atomic.Bool // the caller is blocked on done
	_       [cacheLine - 12]byte

	gen     uint64 // the last region's (written under mu)
	helpers []*helper
	done    chan struct{} // capacity 1
}

// cacheLine is the size of a cache line in bytes.
const cacheLine = 64

// paddedWord is an atomic word alone on its cache line.
type paddedWord struct {
	atomic.Uint64
	_ [cacheLine - 8]byte
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
func restHelpers() {
	if !theTeam.resting.Load() {
		theTeam.resting.Store(true)
	}
}

// claim takes a chunk of region gen (of threads participants) for
// participant id: the next of its own run, else the last of another's;
// ok is false when none is left.
func (tm *team) claim(id int, gen uint64, threads int) (i int, ok bool) {
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
// multiples of tm.unit (the 4-row micro-tile, or 1 for gemm's parts).
func (tm *team) bounds(i int) (r0, r1 int) {
	at := func(i int) int {
		if i >= tm.chunks {
			return tm.rows
		}
		return min((i*tm.rows/tm.chunks+tm.unit-1)/tm.unit*tm.unit, tm.rows)
	}
	return at(i), at(i + 1)
}

// work runs chunks of the region in word w for participant id until none
// is left to claim, then counts them off pending.
func (tm *team) work(id int, w uint64) {
	gen, threads := w>>8, int(w&0xFF)
	if id >= threads {
		return
	}
	ran := int64(0)
	for {
		i, ok := tm.claim(id, gen, threads)
		if !ok {
			break
		}
		if r0, r1 := tm.bounds(i); r0 < r1 {
			tm.f(id, r0, r1)
		}
		ran++
	}
	if ran > 0 && tm.pending.Add(-ran) == 0 && tm.waiting.CompareAndSwap(true, false) {
		tm.done <- struct{}{}
	}
}

// claimable reports whether participant id may claim a chunk of the
// region in word w.
func (tm *team) claimable(id int, w uint64) bool {
	gen, threads := w>>8&0xFFFFFFFF, int(w&0xFF)
	if id >= threads {
		return false
	}
	for k := 0; k < threads; k++ { // its own run first: the caller's is busy
		if qw := tm.q[(id+k)%threads].Load(); qw>>32 == gen && qw>>16&0xFFFF < qw&0xFFFF {
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
		w := tm.word.Load()
		tm.work(h.id, w)
		if tm.spinFor(h.id, w) {
			continue
		}
		h.state.Store(helperParked)
		if tm.claimable(h.id, tm.word.Load()) && h.state.CompareAndSwap(helperParked, helperRunning) {
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

// spinFor polls word for a region after the one in seen with a chunk
// participant id may claim, for helperSpin (or until restHelpers),
// yielding the processor every 256 polls; it reports whether one came.
func (tm *team) spinFor(id int, seen uint64) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if w := tm.word.Load(); w != seen {
			if tm.claimable(id, w) {
				return true
			}
			seen = w
		}
		if tm.resting.Load() || i%64 == 63 && time.Since(start) > helperSpin {
			return false
		}
		if i%256 == 255 {
			runtime.Gosched()
		}
	}
}

// run runs a region on the caller and up to threads−1 helpers, in
// chunks starting at multiples of unit rows; the caller holds tm.mu.
func (tm *team) run(rows, unit, threads int, f func(t, r0, r1 int)) {
	tm.f, tm.rows, tm.unit, tm.chunks = f, rows, unit, threads*chunksPerThread
	if tm.resting.Load() {
		tm.resting.Store(false)
	}
	tm.pending.Store(int64(tm.chunks))
	tm.gen++
	g := tm.gen & 0xFFFFFFFF
	for t := 0; t < threads; t++ {
		tm.q[t].Store(g<<32 | uint64(t*chunksPerThread)<<16 | uint64((t+1)*chunksPerThread))
	}
	w := tm.gen<<8 | uint64(threads)
	tm.word.Store(w)
	tm.wakeHelpers(threads - 1)
	tm.work(0, w)
	tm.wait()
	tm.f = nil
}

// warmHelpers wakes the helpers a pass on threads goroutines will use,
// ahead of its first region: a parked helper, once woken, waits on the
// caller's processor until the caller yields (Go runs a goroutine woken
// by a channel send next on the sender's processor, and another takes it
// only after a few µs), so a region that wakes it runs mostly on the
// caller. Woken here, the helpers reach the other processors while the
// pass's first layer runs, and spin for its first region. (ResNet-20's
// first elementwise pass, 31 µs, ran on one core at 2 threads: its
// helper had parked during the previous call's last layers.)
func warmHelpers(threads int) {
	threads = min(threads, runtime.GOMAXPROCS(0), maxHelpers+1)
	if threads <= 1 || wholePasses.Load() > 0 || !theTeam.mu.TryLock() {
		return
	}
	defer theTeam.mu.Unlock()
	if theTeam.resting.Load() {
		theTeam.resting.Store(false)
	}
	theTeam.wakeHelpers(threads - 1)
}

// wakeHelpers makes the first n helpers look for the region, starting
// the goroutines of those that exited.
func (tm *team) wakeHelpers(n int) {
	for len(tm.helpers) < n {
		tm.helpers = append(tm.helpers, &helper{id: len(tm.helpers) + 1, wake: make(chan struct{}, 1)})
	}
	for _, h := range tm.helpers[:n] {
		switch {
		case h.state.Load() == helperRunning:
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

// threadsForWork returns the goroutines, up to threads, for a region of
// work units: two from pair units, and a third and each further one for
// every half of full units more. A region on a spinning helper costs the
// caller about 0.5 µs; more threads cost more to hand it to and are
// likelier to be parked or busy, so they need more work each.
func threadsForWork(threads, work, pair, full int) int {
	t := 2 * work / full
	if work >= pair {
		t = max(t, 2)
	}
	return max(min(threads, t), 1)
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
	theTeam.run(rows, 4, threads, f)
}

// floatLayers counts the engine's float layers running now: while there
// are any, internal/gemm's parallel calls run their parts on the team
// (teamParts), so that the helpers stay warm from a float layer to the
// next region instead of parking for gemm's own workers and being woken
// late. (On the 2-core machine the region after ResNet-18's first conv
// ran on the caller alone: its woken helper waited on the caller's
// processor.)
var floatLayers atomic.Int32

func init() { gemm.SetPartsRunner(teamParts, &floatLayers) }

// teamParts is internal/gemm's PartsRunner, offered parts while an
// engine float layer runs: it runs parts [0,n) on the caller and up to
// t−1 helpers when the team is free; otherwise it declines, and makes
// spinning helpers park so that gemm's workers get the processors.
func teamParts(n, t int, part func(i int)) bool {
	t = min(t, runtime.GOMAXPROCS(0), maxHelpers+1)
	if floatLayers.Load() == 0 {
		return false
	}
	if t <= 1 || wholePasses.Load() > 0 || !theTeam.mu.TryLock() {
		restHelpers()
		return false
	}
	defer theTeam.mu.Unlock()
	theTeam.run(n, 1, t, func(_, i0, i1 int) {
		for i := i0; i < i1; i++ {
			part(i)
		}
	})
	return true
}
