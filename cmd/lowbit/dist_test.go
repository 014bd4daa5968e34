package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/internal/disttest"
	"github.com/lowbit/lowbit/recipes"
)

// The distributed tests build lowbit with -tags mpi and launch it under
// mpirun -np 2 (OpenMPI: apt-get install openmpi-bin libopenmpi-dev pkg-config).
// Without those tools they skip, or fail under LOWBIT_REQUIRE_DATA=1 (CI).

var mpiBuild struct {
	once     sync.Once
	bin, err string
	mpirun   string
}

// mpiBinary returns mpirun and a -tags mpi build of this command.
func mpiBinary(t *testing.T) (mpirun, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("distributed tests launch mpirun; skipped with -short")
	}
	mpiBuild.once.Do(func() {
		var err error
		if mpiBuild.mpirun, err = exec.LookPath("mpirun"); err != nil {
			mpiBuild.err = "mpirun: " + err.Error()
			return
		}
		if out, err := exec.Command("pkg-config", "--cflags", "ompi").CombinedOutput(); err != nil {
			mpiBuild.err = fmt.Sprintf("pkg-config ompi: %v %s", err, out)
			return
		}
		dir, err := os.MkdirTemp("", "lowbit-mpi")
		if err != nil {
			mpiBuild.err = err.Error()
			return
		}
		mpiBuild.bin = filepath.Join(dir, "lowbit-mpi")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(goTool, "build", "-tags", "mpi", "-o", mpiBuild.bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags mpi: %v\n%s", err, out) // the code under test failed: never a skip
		}
	})
	if mpiBuild.err != "" {
		if datatest.Required() {
			t.Fatalf("LOWBIT_REQUIRE_DATA=1 but the MPI tools are missing: %s", mpiBuild.err)
		}
		t.Skipf("MPI tools missing (apt-get install openmpi-bin libopenmpi-dev pkg-config): %s", mpiBuild.err)
	}
	if mpiBuild.bin == "" {
		t.Fatal("the -tags mpi build failed in an earlier test")
	}
	return mpiBuild.mpirun, mpiBuild.bin
}

// mpiRun runs mpirun with args (after -np/--oversubscribe) and a time limit;
// it returns the exit error (nil on success) and the combined output.
func mpiRun(t *testing.T, limit time.Duration, args ...string) (error, string) {
	t.Helper()
	mpirun, _ := mpiBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, append([]string{"--oversubscribe"}, args...)...)
	cmd.Env = append(os.Environ(), "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_btl=self,vader,tcp")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mpirun %v ran past %v (a hang):\n%s", args, limit, out.String())
	}
	return err, out.String()
}

// sgd is the optimizer of the equivalence runs: see disttest for why not Adam.
var sgd = []string{"-optimizer", "sgd", "-lr", "0.01", "-momentum", "0.9"}

// TestDistEquivalence trains k steps on MNIST with 2 ranks × 32 and 1 process × 64
// and compares the checkpoints (weights, quantizer parameters, BatchNorm running
// statistics, DoReFa noise counters, optimizer state) within disttest's tolerance.
func TestDistEquivalence(t *testing.T) {
	requireMNIST(t)
	_, bin := mpiBinary(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		same bool // equal to the one-process run within tolerance
	}{
		{"fp", []string{"-recipe", "fp", "-sync-bn"}, true},
		{"lsq-w4a4", []string{"-recipe", "lsq-w4a4", "-sync-bn"}, true},
		{"xnor", []string{"-recipe", "xnor", "-sync-bn"}, true},
		{"dorefa-w1a2g6", []string{"-recipe", "dorefa-w1a2g6", "-sync-bn"}, true},
		// Per-rank BatchNorm normalises each half batch by its own statistics: not
		// the one-process run, and the comparison must say so.
		{"fp per-rank bn", []string{"-recipe", "fp"}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			common := append(append([]string{"train", "-model", "mlp", "-batch", "64", "-max-steps", "3", "-epochs", "2", "-threads", "1", "-workers", "2"}, sgd...), tc.args...)
			ref := filepath.Join(dir, fmt.Sprintf("ref%d.ckpt", i))
			got := filepath.Join(dir, fmt.Sprintf("dist%d.ckpt", i))
			if code, _, stderr := runCLI(append(common, "-out", ref)...); code != 0 {
				t.Fatalf("one process: exit %d\n%s", code, stderr)
			}
			if err, out := mpiRun(t, 3*time.Minute, append([]string{"-np", "2", bin}, append(common, "-out", got)...)...); err != nil {
				t.Fatalf("mpirun: %v\n%s", err, out)
			}
			diffs := compareCheckpoints(t, got, ref)
			if tc.same && len(diffs) > 0 {
				t.Errorf("2 ranks × 32 differ from 1 process × 64 beyond reduction-order tolerance:\n%s", strings.Join(diffs, "\n"))
			}
			if !tc.same && len(diffs) == 0 {
				t.Error("per-rank BatchNorm matched the one-process run: the comparison cannot tell them apart")
			}
		})
	}
}

// compareCheckpoints loads two checkpoints and lists their differences (disttest.Compare).
func compareCheckpoints(t *testing.T, got, want string) []string {
	t.Helper()
	a, err := recipes.LoadCheckpoint(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := recipes.LoadCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	diffs, worst, err := disttest.Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s vs %s: largest rms difference %.3g× the tolerance", filepath.Base(got), filepath.Base(want), worst)
	return diffs
}

// TestDistResume resumes a checkpoint written by 2 ranks on 1 process and one
// written by 1 process on 2 ranks; both must end where 1 process ends.
func TestDistResume(t *testing.T) {
	requireMNIST(t)
	_, bin := mpiBinary(t)
	dir := t.TempDir()
	args := func(maxSteps string, more ...string) []string {
		return append(append([]string{"train", "-recipe", "lsq-w4a4", "-model", "mlp", "-batch", "64", "-epochs", "3", "-max-steps", maxSteps, "-threads", "1", "-workers", "2", "-sync-bn"}, sgd...), more...)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	one := func(more ...string) {
		t.Helper()
		if code, _, stderr := runCLI(more...); code != 0 {
			t.Fatalf("one process %v: exit %d\n%s", more, code, stderr)
		}
	}
	two := func(more ...string) {
		t.Helper()
		if err, out := mpiRun(t, 3*time.Minute, append([]string{"-np", "2", bin}, more...)...); err != nil {
			t.Fatalf("mpirun %v: %v\n%s", more, err, out)
		}
	}
	one(args("3", "-out", p("a1.ckpt"))...)
	one(args("6", "-resume", p("a1.ckpt"), "-out", p("ref.ckpt"))...)
	two(args("3", "-out", p("b1.ckpt"))...)
	one(args("6", "-resume", p("b1.ckpt"), "-out", p("b2.ckpt"))...)
	two(args("6", "-resume", p("a1.ckpt"), "-out", p("c2.ckpt"))...)
	for _, got := range []string{"b2.ckpt", "c2.ckpt"} {
		if diffs := compareCheckpoints(t, p(got), p("ref.ckpt")); len(diffs) > 0 {
			t.Errorf("%s differs from the one-process run:\n%s", got, strings.Join(diffs, "\n"))
		}
	}
}

// TestDistFailures: refused flags, a non-finite loss, and a rank that dies.
func TestDistFailures(t *testing.T) {
	requireMNIST(t)
	_, bin := mpiBinary(t)
	dir := t.TempDir()
	n := 0
	// train returns the common flags with a fresh -out path.
	train := func() []string {
		n++
		return []string{"train", "-model", "lenet5", "-batch", "64", "-epochs", "1", "-threads", "1", "-workers", "1", "-out", filepath.Join(dir, fmt.Sprintf("x%d.ckpt", n))}
	}
	t.Run("mismatched flags", func(t *testing.T) {
		flags := train()
		a := append(append([]string{"-np", "1", bin}, flags...), "-max-steps", "2", "-lr", "0.001")
		b := append(append([]string{"-np", "1", bin}, flags...), "-max-steps", "2", "-lr", "0.002")
		err, out := mpiRun(t, 2*time.Minute, append(append(a, ":"), b...)...)
		if err == nil || strings.Count(out, "ranks disagree") != 2 {
			t.Fatalf("want both ranks refused with \"ranks disagree\", got %v:\n%s", err, out)
		}
	})
	t.Run("non-finite loss", func(t *testing.T) {
		err, out := mpiRun(t, 2*time.Minute, append(append([]string{"-np", "2", bin}, train()...), "-max-steps", "50", "-optimizer", "sgd", "-lr", "1e30")...)
		if err == nil || strings.Count(out, "non-finite") != 2 {
			t.Fatalf("want both ranks stopped with a non-finite error, got %v:\n%s", err, out)
		}
		if strings.Contains(out, "test accuracy") {
			t.Fatalf("a rank finished:\n%s", out)
		}
	})
	t.Run("dead rank", func(t *testing.T) {
		// Rank 1 is killed (SIGKILL) a few seconds into a long run; rank 0 must
		// not hang: mpirun ends it and exits non-zero well within the limit.
		args := append(train(), "-max-steps", "100000")
		long := strings.Join(args, " ")
		script := fmt.Sprintf("%s %s & pid=$!; sleep 6; kill -9 $pid; wait $pid; exit 137", bin, long)
		start := time.Now()
		err, out := mpiRun(t, 2*time.Minute, append(append([]string{"-np", "1", bin}, args...), ":", "-np", "1", "sh", "-c", script)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("want mpirun to exit non-zero, got %v:\n%s", err, out)
		}
		if strings.Contains(out, "test accuracy") {
			t.Fatalf("rank 0 finished:\n%s", out)
		}
		if time.Since(start) < 6*time.Second {
			t.Fatalf("mpirun exited before the kill (a failure at start-up, not the dead rank):\n%s", out)
		}
		t.Logf("mpirun exited %d %v after the start (kill at 6 s):\n%s", ee.ExitCode(), time.Since(start).Round(time.Second), out)
	})
}
