package bitpack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// checkChunks runs one parallelChunks call and checks that every row is
// visited once, by chunks of whole 4-row tiles, with thread indexes below
// threads; nest starts a region from inside each chunk.
func checkChunks(rows, threads int, nest bool) error {
	seen := make([]atomic.Int32, rows)
	var bad atomic.Value
	parallelChunks(rows, threads, func(t, r0, r1 int) {
		if t < 0 || t >= max(threads, 1) || r0%4 != 0 || r0 > r1 || r1 > rows {
			bad.Store(fmt.Sprintf("chunk t=%d [%d,%d)", t, r0, r1))
		}
		if nest {
			if err := checkChunks(9, 2, false); err != nil {
				bad.Store(err.Error())
			}
		}
		for r := r0; r < r1; r++ {
			seen[r].Add(1)
		}
	})
	if v := bad.Load(); v != nil {
		return fmt.Errorf("rows %d threads %d: %s", rows, threads, v)
	}
	for r := range seen {
		if c := seen[r].Load(); c != 1 {
			return fmt.Errorf("rows %d threads %d: row %d visited %d times", rows, threads, r, c)
		}
	}
	return nil
}

// TestParallelChunks: every row once, in 4-row-aligned chunks, thread
// indexes below the thread count, with nested regions and with several
// callers at once (one gets the helpers, the others run inline).
func TestParallelChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, c := range []struct {
		rows, threads int
		nest          bool
	}{
		{0, 2, false}, {1, 2, false}, {4, 3, false}, {5, 2, false}, {17, 2, true}, {64, 4, false},
		{1000, 3, true}, {4097, 2, false}, {4097, 8, false}, {100, 1, false},
	} {
		t.Run(fmt.Sprintf("rows%d/threads%d/nest%v", c.rows, c.threads, c.nest), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for g := range errs {
				wg.Go(func() {
					for range 50 {
						if errs[g] = checkChunks(c.rows, c.threads, c.nest); errs[g] != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestTeamParts: internal/gemm's parts run on the team only while an
// engine float layer runs, each exactly once, with several callers at
// once (one gets the team, the others are declined and run none).
func TestTeamParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	if teamParts(8, 2, func(int) { t.Error("part run outside a float layer") }) {
		t.Fatal("teamParts took parts outside a float layer")
	}
	floatLayers.Add(1)
	defer floatLayers.Add(-1)
	for _, c := range []struct{ n, threads int }{{2, 2}, {3, 2}, {4, 2}, {7, 3}, {8, 8}, {100, 4}} {
		t.Run(fmt.Sprintf("n%d/threads%d", c.n, c.threads), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make([]error, 3)
			took := make([]int, 3)
			for g := range errs {
				wg.Go(func() {
					for range 50 {
						seen := make([]atomic.Int32, c.n)
						ok := teamParts(c.n, c.threads, func(i int) { seen[i].Add(1) })
						for i := range seen {
							if got, want := seen[i].Load(), map[bool]int32{true: 1, false: 0}[ok]; got != want {
								errs[g] = fmt.Errorf("teamParts %v: part %d run %d times", ok, i, got)
								return
							}
						}
						if ok {
							took[g]++
						}
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if took[0]+took[1]+took[2] == 0 {
				t.Fatal("teamParts declined every call")
			}
		})
	}
}

// bigInput gives testSpec's first (float) conv 32×32 images: enough
// multiply-adds for internal/gemm to split it over threads at batch 1,
// so TestPredictThreads covers teamParts.
func bigInput(s Spec) Spec {
	s.Input = []int{32, 32, 3}
	return s
}

// helpersExited waits up to timeout for every helper goroutine to exit.
func helpersExited(timeout time.Duration) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		theTeam.mu.Lock()
		live := 0
		for _, h := range theTeam.helpers {
			if h.state.Load() != helperExited {
				live++
			}
		}
		theTeam.mu.Unlock()
		if live == 0 {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// quickIdle waits for earlier tests' helpers to exit, then makes helpers
// exit after 20 ms idle, and returns the function that waits for them to
// exit and restores helperIdle.
func quickIdle(t *testing.T) (restore func()) {
	t.Helper()
	if !helpersExited(5 * time.Second) {
		t.Fatal("helpers of earlier tests still running")
	}
	idle := helperIdle
	helperIdle = 20 * time.Millisecond // no helper runs: nothing reads it now
	return func() {
		helpersExited(5 * time.Second)
		helperIdle = idle
	}
}

// TestHelpersExit: the helpers a Model's Predict woke exit once no
// region comes for helperIdle, so a dropped Model (or an idle process)
// keeps no goroutines.
func TestHelpersExit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	defer splitSmall()()
	defer quickIdle(t)()
	base := runtime.NumGoroutine()
	m, err := NewModel(testSpec(3))
	if err != nil {
		t.Fatal(err)
	}
	x := randF(rand.New(rand.NewPCG(3, 3)), 6*6*3, 1)
	if _, err := m.Predict(x, 1); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() <= base {
		t.Fatal("Predict at 2 threads started no helper")
	}
	m = nil
	runtime.GC()
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > base; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the model:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestPredictThreads: Predict gives bit-identical logits at any thread
// count and batch size — per-layer splits (1, 3 and 5 samples at 2
// threads), batches split by samples (37 samples at 2 and 3 threads) —
// and so does Trace, on models with fused xnor chains, PadZero borders,
// bit-serial and int8 (LSQ) layers, with every layer small enough to
// split.
func TestPredictThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer splitSmall()()
	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"mixed", testSpec(5)},
		{"xnor-vgg", vggSpec()},
		{"xnor-fused", fuseSpec(3, 40, 70, 1, 1, LayerReLU, orderPoolAfter)},
		{"float-on-team", bigInput(testSpec(7))},
		{"bit-serial-direct", bitSerialSpec()},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewModel(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			const n = 37
			per := c.spec.Input[0] * c.spec.Input[1] * c.spec.Input[2]
			x := randF(rand.New(rand.NewPCG(9, 9)), n*per, 1)
			runtime.GOMAXPROCS(1)
			want, err := m.Predict(x, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct{ threads, n, from int }{
				{1, 1, 4}, {2, 1, 7}, {2, 3, 0}, {2, 5, 30}, {2, 37, 0}, {3, 37, 0},
			} {
				runtime.GOMAXPROCS(r.threads)
				got, err := m.Predict(x[r.from*per:(r.from+r.n)*per], r.n)
				if err != nil {
					t.Fatal(err)
				}
				w := want[r.from*c.spec.Classes : (r.from+r.n)*c.spec.Classes]
				for i := range w {
					if math.Float32bits(got[i]) != math.Float32bits(w[i]) {
						t.Fatalf("threads %d, samples %d..%d: logit %d = %g, want %g (1 thread, batch %d)",
							r.threads, r.from, r.from+r.n, i, got[i], w[i], n)
					}
				}
			}
			runtime.GOMAXPROCS(2)
			got, err := m.Trace(x, n, func(Trace) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("Trace at 2 threads: logit %d = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}

// TestThreadsForWork: two threads from the pair threshold, more only for
// each further half of the full one, never above the threads given.
func TestThreadsForWork(t *testing.T) {
	for _, c := range []struct{ threads, work, pair, full, want int }{
		{2, 0, 512, 2048, 1},
		{2, 511, 512, 2048, 1},
		{2, 512, 512, 2048, 2},
		{16, 512, 512, 2048, 2},
		{16, 2047, 512, 2048, 2},
		{16, 3072, 512, 2048, 3},
		{16, 1 << 20, 512, 2048, 16},
		{1, 1 << 20, 512, 2048, 1},
		{4, 100, 1, 1, 4}, // the tests' splitSmall
		{4, 300, 512, 64, 4},
	} {
		if got := threadsForWork(c.threads, c.work, c.pair, c.full); got != c.want {
			t.Errorf("threadsForWork(%d, %d, %d, %d) = %d, want %d", c.threads, c.work, c.pair, c.full, got, c.want)
		}
	}
}

// TestWarmHelpers: warmHelpers starts the helpers a pass will use (and
// no more), a region after it runs every row once, and the helpers exit
// when no region comes.
func TestWarmHelpers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	defer quickIdle(t)()
	live := func() int {
		theTeam.mu.Lock()
		defer theTeam.mu.Unlock()
		n := 0
		for _, h := range theTeam.helpers {
			if h.state.Load() != helperExited {
				n++
			}
		}
		return n
	}
	warmHelpers(1)
	if n := live(); n != 0 {
		t.Fatalf("warmHelpers(1) started %d helpers", n)
	}
	warmHelpers(2)
	if n := live(); n != 1 {
		t.Fatalf("warmHelpers(2) left %d helpers running, want 1", n)
	}
	if err := checkChunks(4097, 2, false); err != nil {
		t.Fatal(err)
	}
	if !helpersExited(5 * time.Second) {
		t.Fatal("warmed helpers did not exit")
	}
}

// TestTeamLayout: the region's header, each chunk run and the join sit
// on cache lines of their own (the hand-over cost is the lines that move
// between cores).
func TestTeamLayout(t *testing.T) {
	var tm team
	offs := []struct {
		name string
		at   uintptr
	}{{"word", unsafe.Offsetof(tm.word)}, {"q", unsafe.Offsetof(tm.q)}, {"pending", unsafe.Offsetof(tm.pending)}, {"gen", unsafe.Offsetof(tm.gen)}}
	for i, o := range offs {
		if o.at%cacheLine != 0 {
			t.Errorf("%s at byte %d, not at a cache line", o.name, o.at)
		}
		if i > 0 && o.at-offs[i-1].at < cacheLine {
			t.Errorf("%s shares a cache line with %s", o.name, offs[i-1].name)
		}
	}
	if c := unsafe.Offsetof(tm.chunks); c/cacheLine != unsafe.Offsetof(tm.word)/cacheLine {
		t.Errorf("the region's fields are not on word's line")
	}
	if unsafe.Sizeof(paddedWord{}) != cacheLine {
		t.Errorf("paddedWord is %d bytes", unsafe.Sizeof(paddedWord{}))
	}
}
