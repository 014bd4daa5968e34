package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/datatest"
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

// requireMNIST skips (or fails in CI) when MNIST cannot be found.
func requireMNIST(t *testing.T) {
	t.Helper()
	if _, _, err := recipes.OpenData(&recipes.Config{Dataset: "mnist"}); err != nil {
		datatest.Missing(t, "%v", err)
	}
}

// Tolerances of the equivalence: the two runs differ only in float reduction
// order (the allreduce sums two half-batch gradients where one process sums
// 64 rows; synchronised BatchNorm computes its statistics in two passes).
// After k Adam steps that leaves differences of a few ulps of the updates:
// |a−b| ≤ absTol + relTol·|b| for every weight, quantizer parameter, BatchNorm
// statistic and optimizer moment; step counters and noise counters exactly.
const (
	absTol = 2e-5
	relTol = 1e-3
)

// TestDistEquivalence trains k steps on MNIST with 2 ranks × 32 and 1 process × 64
// and compares the checkpoints (weights, quantizer parameters, BatchNorm running
// statistics, DoReFa noise counters, optimizer state).
func TestDistEquivalence(t *testing.T) {
	requireMNIST(t)
	_, bin := mpiBinary(t)
	dir := t.TempDir()
	const steps = "1"
	cases := []struct {
		name string
		args []string
		same bool // equal to the one-process run within tolerance
	}{
		{"fp sync-bn", []string{"-recipe", "fp", "-sync-bn"}, true},
		{"lsq-w4a4 sync-bn", []string{"-recipe", "lsq-w4a4", "-sync-bn", "-optimizer", "sgd", "-lr", "0.02"}, true},
		{"xnor sync-bn", []string{"-recipe", "xnor", "-sync-bn", "-optimizer", "sgd", "-lr", "0.02"}, true},
		{"dorefa-w1a2g6 sync-bn", []string{"-recipe", "dorefa-w1a2g6", "-sync-bn"}, true},
		// Per-rank BatchNorm normalises each half batch by its own statistics: not
		// the one-process run. This shows that -sync-bn is what makes it so.
		{"fp per-rank bn", []string{"-recipe", "fp"}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			common := append([]string{"train", "-model", "lenet5", "-batch", "64", "-max-steps", steps, "-epochs", "2", "-threads", "1", "-workers", "2"}, tc.args...)
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

// TestDistResume resumes a checkpoint written by 2 ranks on 1 process and one
// written by 1 process on 2 ranks; both must end where 1 process ends.
func TestDistResume(t *testing.T) {
	requireMNIST(t)
	_, bin := mpiBinary(t)
	dir := t.TempDir()
	args := func(maxSteps string, more ...string) []string {
		return append([]string{"train", "-recipe", "lsq-w4a4", "-model", "lenet5", "-batch", "64", "-epochs", "3", "-max-steps", maxSteps, "-threads", "1", "-workers", "2", "-sync-bn"}, more...)
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
	train := []string{"train", "-model", "lenet5", "-batch", "64", "-epochs", "1", "-threads", "1", "-workers", "1", "-out", filepath.Join(t.TempDir(), "x.ckpt")}
	t.Run("mismatched flags", func(t *testing.T) {
		a := append(append([]string{"-np", "1", bin}, train...), "-max-steps", "2", "-lr", "0.001")
		b := append(append([]string{"-np", "1", bin}, train...), "-max-steps", "2", "-lr", "0.002")
		err, out := mpiRun(t, 2*time.Minute, append(append(a, ":"), b...)...)
		if err == nil || strings.Count(out, "ranks disagree") != 2 {
			t.Fatalf("want both ranks refused with \"ranks disagree\", got %v:\n%s", err, out)
		}
	})
	t.Run("non-finite loss", func(t *testing.T) {
		err, out := mpiRun(t, 2*time.Minute, append(append([]string{"-np", "2", bin}, train...), "-max-steps", "50", "-optimizer", "sgd", "-lr", "1e30")...)
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
		long := strings.Join(append(train, "-max-steps", "100000"), " ")
		script := fmt.Sprintf("%s %s & pid=$!; sleep 6; kill -9 $pid; wait $pid; exit 137", bin, long)
		start := time.Now()
		err, out := mpiRun(t, 2*time.Minute, append(append([]string{"-np", "1", bin}, train...), "-max-steps", "100000", ":", "-np", "1", "sh", "-c", script)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("want mpirun to exit non-zero, got %v:\n%s", err, out)
		}
		if strings.Contains(out, "test accuracy") {
			t.Fatalf("rank 0 finished:\n%s", out)
		}
		t.Logf("mpirun exited %d %v after the start (kill at 6 s)", ee.ExitCode(), time.Since(start).Round(time.Second))
	})
}

// compareCheckpoints lists the tensors and optimizer values of got that differ
// from want beyond the tolerance (and any structural difference).
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
	var diffs []string
	if a.Step != b.Step || a.Epoch != b.Epoch || len(a.Tensors) != len(b.Tensors) {
		return []string{fmt.Sprintf("step %d epoch %d %d tensors, want step %d epoch %d %d tensors", a.Step, a.Epoch, len(a.Tensors), b.Step, b.Epoch, len(b.Tensors))}
	}
	var worst float64
	for i, ti := range a.Tensors {
		exact := strings.HasSuffix(ti.Name, ".gq") || strings.Contains(ti.Name, "counter")
		if d, w := compareF32(ti.Name, a.Data[i], b.Data[i], exact); d != "" {
			diffs = append(diffs, d)
		} else {
			worst = max(worst, w)
		}
	}
	oa, err := decodeOptState(a.OptBytes)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := decodeOptState(b.OptBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(oa) != len(ob) {
		diffs = append(diffs, fmt.Sprintf("optimizer state: %d values, want %d", len(oa), len(ob)))
	}
	for name, va := range oa {
		if d, w := compareF32("optimizer "+name, va, ob[name], strings.HasSuffix(name, ".step")); d != "" {
			diffs = append(diffs, d)
		} else {
			worst = max(worst, w)
		}
	}
	t.Logf("%s vs %s: %d tensors, %d optimizer entries; largest |a−b|/(absTol+relTol·|b|) = %.3g", filepath.Base(got), filepath.Base(want), len(a.Tensors), len(oa), worst)
	return diffs
}

// compareF32 returns a description of the worst element beyond tolerance (or ""),
// and the worst ratio of the difference to the tolerance.
func compareF32(name string, a, b []float32, exact bool) (string, float64) {
	if len(a) != len(b) {
		return fmt.Sprintf("%s: %d values, want %d", name, len(a), len(b)), 0
	}
	worst, at := 0.0, -1
	for i := range a {
		if exact {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return fmt.Sprintf("%s[%d] = %v, want exactly %v", name, i, a[i], b[i]), 0
			}
			continue
		}
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return fmt.Sprintf("%s[%d] = %v, want %v", name, i, a[i], b[i]), 0
		}
		if r := d / (absTol + relTol*math.Abs(float64(b[i]))); r > worst {
			worst, at = r, i
		}
	}
	if worst > 1 {
		return fmt.Sprintf("%s[%d] = %v, want %v (|a−b| is %.2f× the tolerance)", name, at, a[at], b[at], worst), worst
	}
	return "", worst
}

// decodeOptState reads optim's state layout (see optim/state.go) into
// "param.slotK" → values and "param.step" → the step counter.
func decodeOptState(b []byte) (map[string][]float32, error) {
	out := map[string][]float32{}
	bad := errors.New("optimizer state: truncated")
	if len(b) < 9 || string(b[:4]) != "LBOS" {
		return nil, errors.New("optimizer state: bad magic")
	}
	b = b[5:]
	uv := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, bad
		}
		b = b[n:]
		return v, nil
	}
	str := func() (string, error) {
		n, err := uv()
		if err != nil || n > uint64(len(b)) {
			return "", bad
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	if _, err := str(); err != nil {
		return nil, err
	}
	nparams, err := uv()
	if err != nil || nparams > 1<<20 {
		return nil, bad
	}
	for range nparams {
		name, err := str()
		if err != nil {
			return nil, err
		}
		step, err := uv()
		if err != nil {
			return nil, err
		}
		out[name+".step"] = []float32{float32(step)}
		nslots, err := uv()
		if err != nil || nslots > 16 {
			return nil, bad
		}
		for k := range nslots {
			n, err := uv()
			if err != nil || 4*n > uint64(len(b)) {
				return nil, bad
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			b = b[4*n:]
			out[fmt.Sprintf("%s.slot%d", name, k)] = v
		}
	}
	return out, nil
}
