package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Bench subcommands register here, one file each (bench_*.go).
var benches = map[string]command{}

func registerBench(name, about string, run func([]string, io.Writer) error) {
	benches[name] = command{about, run}
}

func init() {
	register("bench", "benchmarks that write docs/results: "+strings.Join(benchNames(), ", "), cmdBench)
}

func benchNames() []string {
	// Called during init, before every bench file registered; the list is rebuilt in cmdBench.
	out := make([]string, 0, len(benches))
	for n := range benches {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"kernels", "train", "accuracy", "imagenet"}
	}
	return out
}

func cmdBench(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: lowbit bench {%s} [flags]", strings.Join(benchNames(), "|"))
	}
	b, ok := benches[args[0]]
	if !ok {
		return fmt.Errorf("unknown benchmark %q (known: %s)", args[0], strings.Join(benchNames(), ", "))
	}
	return b.run(args[1:], stdout)
}
