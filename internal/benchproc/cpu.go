package benchproc

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is USER_HZ, the unit of /proc/stat and /proc/PID/stat.
// TickSlack is the rounding forgiven in a window's count of other
// processes' CPU, in ticks: the counters tick at 1/ClockTick s per CPU,
// so a short window would otherwise read as busy. MinWindow is the
// shortest window, in seconds, whose share is judged at all.
const (
	ClockTick = 100
	TickSlack = 3
	MinWindow = 0.1
)

// Counters is a snapshot of CPU time: the whole machine's outside idle
// and iowait, and this process's plus some child processes'.
type Counters struct {
	At      time.Time
	Machine float64 // CPU seconds all CPUs spent busy since boot
	Own     float64 // CPU seconds of this process and the pids read
	OK      bool    // every counter was readable
}

// Read takes a snapshot counting this process and pids as "own".
func Read(pids ...int) Counters {
	c := Counters{OK: true}
	var ok bool
	c.Machine, ok = MachineBusy()
	c.OK = c.OK && ok
	for _, pid := range append([]int{0}, pids...) {
		s, ok := ProcessCPU(pid)
		c.Own += s
		c.OK = c.OK && ok
	}
	c.At = time.Now()
	return c
}

// Foreign returns the CPU share (in CPUs) that processes other than the
// counted ones used between a and b, and whether it could be measured: both
// snapshots readable and at least MinWindow apart.
func Foreign(a, b Counters) (float64, bool) {
	wall := b.At.Sub(a.At).Seconds()
	if !a.OK || !b.OK || wall < MinWindow {
		return 0, false
	}
	return max(0, (b.Machine-a.Machine)-(b.Own-a.Own)-float64(TickSlack)/ClockTick) / wall, true
}

// MachineBusy returns the CPU seconds all CPUs spent outside idle and
// iowait since boot (false when /proc/stat is unreadable).
func MachineBusy() (float64, bool) {
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
	return float64(busy) / ClockTick, true
}

// ProcessCPU returns the CPU seconds (user + system) process pid used; pid
// 0 is this process.
func ProcessCPU(pid int) (float64, bool) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
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
	return float64(u+s) / ClockTick, true
}

// PeerEnv returns base (KEY=VALUE entries, as os.Environ gives) without
// the variables named in unset and with set's KEY=VALUE entries replacing
// any earlier value. A peer's process gets it; the benchmark's own
// environment, and so tests and CI, stay as they are.
func PeerEnv(base []string, unset []string, set ...string) []string {
	drop := map[string]bool{}
	for _, k := range unset {
		drop[k] = true
	}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var out []string
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// Removed returns the entries of base that PeerEnv drops for unset, for a
// report to record what the peer did not inherit.
func Removed(base []string, unset []string) []string {
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		for _, u := range unset {
			if k == u {
				out = append(out, kv)
			}
		}
	}
	return out
}

// OpenBLASForcing names the variables that, set when OpenBLAS loads, keep
// it off its native kernel (a forced core type, a cache size): a peer that
// runs as its users would runs without them.
func OpenBLASForcing() []string { return []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} }
