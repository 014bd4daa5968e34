package main

import (
	"flag"
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
		return usagef("usage: lowbit bench {%s} [flags]", strings.Join(benchNames(), "|"))
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(flagOut, "usage: lowbit bench {%s} [flags]\nrun \"lowbit bench NAME -h\" for a benchmark's flags\n", strings.Join(benchNames(), "|"))
		return flag.ErrHelp
	}
	b, ok := benches[args[0]]
	if !ok {
		return usagef("unknown benchmark %q (known: %s)", args[0], strings.Join(benchNames(), ", "))
	}
	return b.run(args[1:], stdout)
}
