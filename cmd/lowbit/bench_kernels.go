package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/internal/benchproc"
	"github.com/lowbit/lowbit/internal/gemm"
)

func init() {
	registerBench("kernels", "packed XNOR / bit-serial / int8 kernels against float32 GEMM, single thread (docs/results/kernels.md)", cmdBenchKernels)
}

func cmdBenchKernels(args []string, stdout io.Writer) error {
	fs := newFlags("bench kernels")
	rounds := fs.Int("rounds", 7, "interleaved rounds (at least 5 for the issue's medians)")
	sample := fs.Duration("sample", 80*time.Millisecond, "least time of one timed sample (fast kernels repeat within it)")
	reruns := fs.Int("reruns", 3, "re-runs of a round of a group disturbed by other processes or a busy sibling hyperthread (0: none)")
	nets := fs.String("networks", "xnor,bnn,dorefa-w1a2,lsq-w4a4", "recipes whose exported LeNet-5 is timed against its graph forward (\"\" skips)")
	out := fs.String("o", "docs/results/kernels.md", "report file (\"\" prints only)")
	alias(fs, "o", "out")
	native := fs.Bool("openblas-native", true, "in -tags openblas builds, re-run without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE so OpenBLAS picks its own kernel (false: keep them; the report says so)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("bench kernels: unexpected arguments %q", pos)
	}
	if removed := benchproc.Removed(os.Environ(), benchproc.OpenBLASForcing()); *native && gemm.OpenBLAS != nil && len(removed) > 0 {
		return rerunNativeOpenBLAS(args, stdout, removed)
	}
	// The table is single-threaded: our kernels on one P and one
	// gemm thread, OpenBLAS at one thread (its default in this build).
	defer singleThreaded()()
	log := logrus.New()
	log.SetOutput(os.Stderr)
	rep, err := bench.RunKernels(bench.KernelOptions{
		Rounds: *rounds, MinSample: *sample, Reruns: reruns0(*reruns), Networks: append([]string{}, splitList(*nets)...),
		OpenBLASRemoved: splitList(os.Getenv(openBLASRemovedEnv)),
		Command:         strings.TrimSpace("lowbit bench kernels " + strings.Join(args, " ")),
		OnProgress:      func(msg string) { log.Info(msg) },
	})
	if err != nil {
		return err
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	stdout.Write(md.Bytes())
	return writeReport(*out, md.Bytes())
}

// singleThreaded sets GOMAXPROCS and gemm's threads to 1 and returns the
// function that restores them (tests run the CLI in-process).
func singleThreaded() (restore func()) {
	prevThreads := gemm.Threads() // GOMAXPROCS when never set
	prevProcs := runtime.GOMAXPROCS(1)
	gemm.SetThreads(1)
	return func() {
		runtime.GOMAXPROCS(prevProcs)
		if prevThreads == prevProcs {
			gemm.SetThreads(0)
		} else {
			gemm.SetThreads(prevThreads)
		}
	}
}

// openBLASRemovedEnv carries, to the re-run, the OpenBLAS variables its
// parent removed, for the report.
const openBLASRemovedEnv = "LOWBIT_OPENBLAS_REMOVED"

// rerunNativeOpenBLAS runs this command again without the variables that
// force OpenBLAS's kernel (removed): OpenBLAS reads them when it loads, so
// only a new process runs it on its native kernel. Only the benchmark's
// process loses them; tests and CI keep their environment.
func rerunNativeOpenBLAS(args []string, stdout io.Writer, removed []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench kernels: re-run without %s: %w", strings.Join(removed, ", "), err)
	}
	cmd := exec.Command(exe, append([]string{"bench", "kernels"}, args...)...)
	cmd.Env = benchproc.PeerEnv(os.Environ(), benchproc.OpenBLASForcing(), openBLASRemovedEnv+"="+strings.Join(removed, ","))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench kernels: re-run without %s: %w", strings.Join(removed, ", "), err)
	}
	return nil
}

// reruns0 maps the flag's 0 (no re-runs) to KernelOptions' negative.
func reruns0(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
