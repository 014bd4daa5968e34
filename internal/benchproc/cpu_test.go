package benchproc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestMachineCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	busy, ok1 := MachineBusy()
	own, ok2 := ProcessCPU(0)
	if !ok1 || !ok2 || busy <= 0 || own < 0 || own > busy {
		t.Errorf("machine busy %v (%v), own %v (%v)", busy, ok1, own, ok2)
	}
	if _, ok := ProcessCPU(1 << 30); ok {
		t.Error("ProcessCPU of a pid that cannot exist reads as ok")
	}
}

func TestForeign(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name  string
		a, b  Counters
		share float64
		ok    bool
	}{
		{"half a CPU", Counters{t0, 100, 10, true}, Counters{at(2), 102.03, 11, true}, 0.5, true},
		{"own only", Counters{t0, 100, 10, true}, Counters{at(1), 101, 11, true}, 0, true},
		{"rounding forgiven", Counters{t0, 100, 10, true}, Counters{at(1), 100.02, 10, true}, 0, true},
		{"window too short", Counters{t0, 100, 10, true}, Counters{at(0.05), 101, 10, true}, 0, false},
		{"unreadable", Counters{t0, 100, 10, false}, Counters{at(1), 101, 10, true}, 0, false},
	} {
		share, ok := Foreign(c.a, c.b)
		if ok != c.ok || share < c.share-1e-9 || share > c.share+1e-9 {
			t.Errorf("%s: Foreign = %v, %v; want %v, %v", c.name, share, ok, c.share, c.ok)
		}
	}
}

// TestForeignCountsChildren: a spinning child is foreign CPU unless its
// pid is read as the benchmark's own, in the same window.
func TestForeignCountsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if testing.Short() {
		t.Skip("spins a child process")
	}
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	a0, a1 := Read(), Read(pid)
	time.Sleep(500 * time.Millisecond)
	b0, b1 := Read(), Read(pid)
	f0, ok0 := Foreign(a0, b0)
	f1, ok1 := Foreign(a1, b1)
	child := (b1.Own - b0.Own) - (a1.Own - a0.Own)
	if !ok0 || !ok1 || child <= 0.02 || f0 < f1 {
		t.Errorf("child used %.2f s; foreign %.2f without it as own, %.2f with (ok %v %v)", child, f0, f1, ok0, ok1)
	}
}

func TestPeerEnv(t *testing.T) {
	base := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OMP_WAIT_POLICY=ACTIVE", "OPENBLAS_L2_SIZE=1048576", "HOME=/root"}
	unset := []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
	for _, c := range []struct {
		name string
		set  []string
		want []string
	}{
		{"unset only", nil, []string{"PATH=/bin", "OMP_WAIT_POLICY=ACTIVE", "HOME=/root"}},
		{"set replaces", []string{"OMP_WAIT_POLICY=PASSIVE", "OMP_NUM_THREADS=2"},
			[]string{"PATH=/bin", "HOME=/root", "OMP_WAIT_POLICY=PASSIVE", "OMP_NUM_THREADS=2"}},
	} {
		if got := PeerEnv(base, unset, c.set...); !slices.Equal(got, c.want) {
			t.Errorf("%s: PeerEnv = %q, want %q", c.name, got, c.want)
		}
	}
	if got := Removed(base, unset); !slices.Equal(got, []string{"OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=1048576"}) {
		t.Errorf("Removed = %q", got)
	}
	if base[1] != "OPENBLAS_CORETYPE=Haswell" {
		t.Error("PeerEnv changed its input")
	}
}
