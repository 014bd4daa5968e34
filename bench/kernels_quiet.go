package bench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lowbit/lowbit/internal/benchproc"
)

// Disturbances. The kernels run on one thread, but what runs beside them
// still moves their times, and not by the same factor: on the 2-vCPU VM of
// docs/results (its two vCPUs share a core like hyperthreads), a shell busy
// loop on the other vCPU made the pure-Go XNOR kernel 1.8× slower, and in
// the rounds of a report taken while other work ran, pure Go was 1.7×
// slower, OpenBLAS 1.2× and the dependent IMUL chain 1.1×. Such activity
// comes in stretches of seconds, so it skews the paired ratios of whole
// rounds and turns the medians of 7 rounds bimodal. Each round of a group
// is therefore watched (benchproc.Watch, with a scalar popcount probe) and
// re-run, every kernel of the group so the rounds stay paired, when other
// processes used more than benchproc.ForeignLimit of a CPU during it or the
// probe ran below benchproc.ProbeShare of its best.
//
// Before a re-run the harness waits (Settle, bounded) for the machine to
// look quiet again. Re-runs are bounded too (per round of a group and in
// all); a round still disturbed after them is kept and counted in the
// report.

// describe is the report's "quiet check" cell.
func (s QuietStats) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a round of a group is re-run, all its kernels, when other processes used > %.2f CPU during it or a scalar popcount probe just before or after it ran below %.0f%% of its best speed (a busy sibling hyperthread), at most %d times, each after waiting up to %v for quiet: ",
		benchproc.ForeignLimit, 100*benchproc.ProbeShare, s.MaxReruns, s.MaxWait)
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
