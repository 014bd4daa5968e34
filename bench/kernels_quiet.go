package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Disturbances. The kernels run on one thread, but what runs beside them
// still moves their times, and not by the same factor: on the 2-vCPU VM of
// docs/results (its two vCPUs share a core like hyperthreads), a shell busy
// loop on the other vCPU made the pure-Go XNOR kernel 1.8× slower, and in
// the rounds of a report taken while other work ran, pure Go was 1.7×
// slower, OpenBLAS 1.2× and the dependent IMUL chain 1.1×. Such activity
// comes in stretches of seconds, so it skews the paired ratios of whole
// rounds and turns the medians of 7 rounds bimodal. Each round of a group
// is therefore watched and re-run (every kernel of the group, so the rounds
// stay paired) when
//
//   - other processes used more than quietForeignCPU of a CPU during it
//     (/proc/stat for the whole machine less /proc/self/stat, less
//     quietTickSlack ticks of rounding; only rounds of at least
//     quietMinWindow seconds are judged so), or
//   - a short scalar popcount probe, run right before and right after it,
//     ran below quietProbeShare of its best speed in this run (also after
//     a forced GC, see check): it also catches a busy sibling hyperthread
//     the guest cannot see.
//
// Before a re-run the harness waits (settle, bounded) for the machine to
// look quiet again. Re-runs are bounded too (per round of a group and in
// all); a round still disturbed after them is kept and counted in the
// report.
const (
	quietForeignCPU = 0.15
	quietProbeShare = 0.8
)

// cpuClockTick is USER_HZ, the unit of /proc/stat and /proc/self/stat;
// quietTickSlack is the rounding allowed for in a round's count of foreign
// CPU time, in ticks.
const (
	cpuClockTick   = 100
	quietTickSlack = 3
	quietMinWindow = 0.1
)

// machineBusy returns the CPU seconds all CPUs spent outside idle and iowait
// since boot (false when /proc/stat is unreadable).
func machineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, v := range f[1:] {
		// user nice system idle iowait irq softirq steal (guest is in user)
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += x
	}
	return float64(busy) / cpuClockTick, true
}

// processCPU returns the CPU seconds (user + system) this process used.
func processCPU() (float64, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+s) / cpuClockTick, true
}

// quietWatch decides whether a round of a group was disturbed.
type quietWatch struct {
	probe     func() float64 // probe speed, higher is faster; nil: no probe
	probeBest float64
	// Statistics for the report.
	groupRounds, reruns, disturbed int
	foreignMax                     float64 // highest foreign CPU share of a kept round
	probeMin                       float64 // lowest probe share of a kept round (1 when none)
	cpuKnown                       bool
}

// mark is the state at the start of a round of a group.
type mark struct {
	wall      time.Time
	busy, own float64
	cpuOK     bool
	probe     float64 // probe speed (0: no probe)
}

// runProbe runs the probe twice and returns the faster speed, raising the
// best seen.
func (q *quietWatch) runProbe() float64 {
	if q.probe == nil {
		return 0
	}
	v := max(q.probe(), q.probe())
	q.probeBest = max(q.probeBest, v)
	return v
}

// check is runProbe, taken again after a forced collection when it reads
// slow: a concurrent GC cycle of this process (the network kernels
// allocate) runs its mark worker on the one P and slows the probe, and that
// is not a disturbance from outside.
func (q *quietWatch) check() float64 {
	v := q.runProbe()
	if v > 0 && v < quietProbeShare*q.probeBest {
		runtime.GC()
		v = q.runProbe()
	}
	return v
}

func (q *quietWatch) start() mark {
	m := mark{probe: q.check()}
	busy, ok1 := machineBusy()
	own, ok2 := processCPU()
	m.busy, m.own, m.cpuOK = busy, own, ok1 && ok2
	m.wall = time.Now()
	return m
}

// end returns the foreign CPU share (in CPUs) and the slower probe's share
// of the best probe for the round begun at m, and whether either crossed
// its limit.
func (q *quietWatch) end(m mark) (foreign, probe float64, disturbed bool) {
	wall := time.Since(m.wall).Seconds()
	busy, ok1 := machineBusy()
	own, ok2 := processCPU()
	if m.cpuOK && ok1 && ok2 && wall >= quietMinWindow {
		q.cpuKnown = true
		// The counters tick at 1/cpuClockTick s per CPU: forgive a few
		// ticks, or a short round reads as busy.
		foreign = max(0, (busy-m.busy)-(own-m.own)-quietTickSlack/cpuClockTick) / wall
	}
	after := q.check()
	probe = 1
	if m.probe > 0 && after > 0 && q.probeBest > 0 {
		probe = min(m.probe, after) / q.probeBest
	}
	return foreign, probe, foreign > quietForeignCPU || probe < quietProbeShare
}

// settle waits, up to maxWait, until the machine looks quiet again: a
// window of quietMinWindow in which other processes used at most
// quietForeignCPU and after which the probe runs at quietProbeShare of its
// best or faster.
func (q *quietWatch) settle(maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for {
		window := min(time.Duration(quietMinWindow*float64(time.Second)), time.Until(deadline))
		if window <= 0 {
			return
		}
		t0 := time.Now()
		busy0, ok1 := machineBusy()
		own0, ok2 := processCPU()
		time.Sleep(window)
		busy1, ok3 := machineBusy()
		own1, ok4 := processCPU()
		wall := time.Since(t0).Seconds()
		foreign := 0.0
		if ok1 && ok2 && ok3 && ok4 && wall >= quietMinWindow {
			foreign = max(0, (busy1-busy0)-(own1-own0)-quietTickSlack/cpuClockTick) / wall
		}
		v := q.runProbe()
		if foreign <= quietForeignCPU && (v == 0 || v >= quietProbeShare*q.probeBest) {
			return
		}
	}
}

// kept records the statistics of a round that stays in the report.
func (q *quietWatch) kept(foreign, probe float64, disturbed bool) {
	q.groupRounds++
	if disturbed {
		q.disturbed++
	}
	q.foreignMax = max(q.foreignMax, foreign)
	if q.probeMin == 0 || probe < q.probeMin {
		q.probeMin = probe
	}
}

// describe is the report's "quiet check" cell.
func (s QuietStats) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a round of a group is re-run, all its kernels, when other processes used > %.2f CPU during it or a scalar popcount probe just before or after it ran below %.0f%% of its best speed (a busy sibling hyperthread), at most %d times, each after waiting up to %v for quiet: ",
		quietForeignCPU, 100*quietProbeShare, s.MaxReruns, s.MaxWait)
	fmt.Fprintf(&b, "%s for %d rounds of groups, %d kept disturbed", plural(s.Reruns, "re-run"), s.GroupRounds, s.Disturbed)
	if s.GroupRounds > 0 {
		b.WriteString("; over the kept rounds other processes used ")
		if s.ForeignMax < 0 {
			b.WriteString("an unmeasured share (rounds under 0.1 s, or no /proc)")
		} else {
			fmt.Fprintf(&b, "≤ %.2f CPU", s.ForeignMax)
		}
		fmt.Fprintf(&b, " and the probe ran ≥ %.0f%% of its best", 100*s.ProbeMin)
	}
	return b.String()
}

// plural is "1 re-run", "3 re-runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
