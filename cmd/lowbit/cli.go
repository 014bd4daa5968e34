package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// synopses are the positional arguments of each verb, shown by its -h and by
// "lowbit help VERB". A verb not listed here shows "[flags]".
var synopses = map[string]string{
	"train":          "[flags]",
	"eval":           "[flags] CKPT|RUNDIR",
	"summary":        "[flags] [CKPT|RUNDIR|MODEL.lbq]",
	"recipes":        "[show NAME]",
	"export":         "[flags] CKPT|RUNDIR",
	"convert":        "[flags] CKPT|RUNDIR",
	"infer":          "[flags] MODEL.lbq INPUT",
	"sensitivity":    "[flags] CKPT|RUNDIR",
	"bench":          "NAME [flags]",
	"plot":           "[flags] RUNDIR",
	"version":        "",
	"bench kernels":  "[flags]",
	"bench train":    "[flags]",
	"bench accuracy": "[flags]",
	"bench imagenet": "[flags]",
	"bench dist":     "[flags]",
	"bench serve":    "[flags] MODEL.lbq",
	"serve":          "[flags] MODEL.lbq",
}

// flagOut receives flag errors and -h output; run points it at its stderr,
// and "lowbit help VERB" at its stdout.
var flagOut io.Writer = os.Stderr

// newFlags makes a FlagSet that reports errors instead of exiting, and whose
// usage shows the verb's positional arguments.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("lowbit "+name, flag.ContinueOnError)
	fs.SetOutput(flagOut)
	fs.Usage = func() {
		syn, ok := synopses[name]
		if !ok {
			syn = "[flags]"
		}
		fmt.Fprintf(fs.Output(), "usage: lowbit %s %s\n", name, syn)
		if about := commands[name].about; about != "" {
			fmt.Fprintf(fs.Output(), "%s\n", about)
		}
		has := false
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(fs.Output(), "flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// alias registers old as a deprecated second name of flag name.
func alias(fs *flag.FlagSet, name, old string) {
	f := fs.Lookup(name)
	fs.Var(f.Value, old, "deprecated: use -"+name)
}

// runHelp prints a verb's usage ("lowbit help VERB") to stdout.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	if len(args) > 1 && args[0] == "bench" {
		if _, ok := benches[args[1]]; ok {
			args = args[:2]
		}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lowbit help: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	defer func(w io.Writer) { flagOut = w }(flagOut)
	flagOut = stdout
	if err := c.run(append(args[1:], "-h"), stdout); err != nil && !isHelp(err) {
		fmt.Fprintf(stderr, "lowbit help %s: %s\n", args[0], oneLine(err))
		return 1
	}
	return 0
}

func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

func init() {
	register("version", "print lowbit's module version and VCS revision", cmdVersion)
}

func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlags("version")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (version takes no arguments)", pos[0])
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("no build information in this binary")
	}
	fmt.Fprintln(stdout, versionLine(bi))
	return nil
}

// versionLine is "lowbit VERSION (REVISION[+dirty], TIME) GOVERSION".
func versionLine(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	rev := s["vcs.revision"]
	if rev == "" {
		rev = "unknown revision"
	}
	if s["vcs.modified"] == "true" {
		rev += "+dirty"
	}
	if t := s["vcs.time"]; t != "" {
		rev += ", " + t
	}
	return fmt.Sprintf("lowbit %s (%s) %s", v, rev, bi.GoVersion)
}
