package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
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
	out := fs.String("out", "docs/results/kernels.md", "report file (\"\" prints only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench kernels: unexpected arguments %q", fs.Args())
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	rep, err := bench.RunKernels(bench.KernelOptions{
		Rounds: *rounds, MinSample: *sample, Reruns: reruns0(*reruns), Networks: append([]string{}, splitList(*nets)...),
		Command:    strings.TrimSpace("lowbit bench kernels " + strings.Join(args, " ")),
		OnProgress: func(msg string) { log.Info(msg) },
	})
	if err != nil {
		return err
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	stdout.Write(md.Bytes())
	return writeReport(*out, md.Bytes())
}

// reruns0 maps the flag's 0 (no re-runs) to KernelOptions' negative.
func reruns0(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
