package benchproc

import (
	"runtime"
	"time"
)

// ForeignLimit is the CPU share (in CPUs) other processes may use during a
// timed round before the round counts as disturbed; ProbeShare is the
// least speed of the probe, as a share of its best in the run.
const (
	ForeignLimit = 0.15
	ProbeShare   = 0.8
)

// Watch decides whether a round of timings was disturbed, by two checks:
//
//   - other processes used more than ForeignLimit of a CPU during it
//     (Counters; only rounds of at least MinWindow are judged so), or
//   - a short probe (a scalar loop whose speed should not vary), run
//     right before and right after the round, ran below ProbeShare of its
//     best speed in this run (also after a forced GC, see check): it also
//     catches a busy sibling hyperthread the guest cannot see.
//
// Its exported counters are statistics for a report.
type Watch struct {
	Probe     func() float64 // probe speed, higher is faster; nil: no probe
	probeBest float64
	// Rounds kept, rounds re-run and kept rounds still disturbed.
	Rounds, Reruns, Disturbed int
	ForeignMax                float64 // highest foreign CPU share of a kept round
	ProbeMin                  float64 // lowest probe share of a kept round (0 when none)
	CPUKnown                  bool    // some round's foreign share was measured
}

// Mark is the state at the start of a round.
type Mark struct {
	cpu   Counters
	probe float64 // probe speed (0: no probe)
}

// RunProbe runs the probe twice and returns the faster speed, raising the
// best seen.
func (q *Watch) RunProbe() float64 {
	if q.Probe == nil {
		return 0
	}
	v := max(q.Probe(), q.Probe())
	q.probeBest = max(q.probeBest, v)
	return v
}

// check is RunProbe, taken again after a forced collection when it reads
// slow: a concurrent GC cycle of this process runs its mark worker on the
// one P and slows the probe, and that is not a disturbance from outside.
func (q *Watch) check() float64 {
	v := q.RunProbe()
	if v > 0 && v < ProbeShare*q.probeBest {
		runtime.GC()
		v = q.RunProbe()
	}
	return v
}

// Start begins a round; pids are processes of the benchmark whose CPU is
// not foreign.
func (q *Watch) Start(pids ...int) Mark {
	m := Mark{probe: q.check()}
	m.cpu = Read(pids...)
	return m
}

// End returns the foreign CPU share (in CPUs) and the slower probe's share
// of the best probe for the round begun at m, and whether either crossed
// its limit.
func (q *Watch) End(m Mark, pids ...int) (foreign, probe float64, disturbed bool) {
	foreign, ok := Foreign(m.cpu, Read(pids...))
	q.CPUKnown = q.CPUKnown || ok
	after := q.check()
	probe = 1
	if m.probe > 0 && after > 0 && q.probeBest > 0 {
		probe = min(m.probe, after) / q.probeBest
	}
	return foreign, probe, foreign > ForeignLimit || probe < ProbeShare
}

// Settle waits, up to maxWait, until the machine looks quiet again: a
// window of MinWindow in which other processes used at most ForeignLimit
// and after which the probe runs at ProbeShare of its best or faster.
func (q *Watch) Settle(maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for {
		window := min(time.Duration(MinWindow*float64(time.Second)), time.Until(deadline))
		if window <= 0 {
			return
		}
		c0 := Read()
		time.Sleep(window)
		foreign, _ := Foreign(c0, Read())
		v := q.RunProbe()
		if foreign <= ForeignLimit && (v == 0 || v >= ProbeShare*q.probeBest) {
			return
		}
	}
}

// Kept records the statistics of a round that stays in the report.
func (q *Watch) Kept(foreign, probe float64, disturbed bool) {
	q.Rounds++
	if disturbed {
		q.Disturbed++
	}
	q.ForeignMax = max(q.ForeignMax, foreign)
	if q.ProbeMin == 0 || probe < q.ProbeMin {
		q.ProbeMin = probe
	}
}
