// Command lowbit trains, evaluates, exports and benchmarks quantized networks.
//
//	lowbit train [flags]          train (default: LeNet-5 on MNIST, full precision)
//	lowbit eval CKPT              evaluate a checkpoint on its dataset's test split
//	lowbit summary [flags|CKPT]   per-layer parameters, bits, memory and MACs
//	lowbit recipes [show NAME]    list the paper recipes, or print one as JSON
//	lowbit export CKPT -o M.lbq   freeze a checkpoint into a bit-packed model file
//	lowbit convert CKPT -o M.safetensors   its float weights as a PyTorch state_dict
//	lowbit infer M.lbq INPUT      top-k for an image, or accuracy on an IDX set
//	lowbit sensitivity CKPT       per-layer accuracy drop when quantized alone
//	lowbit quantize CKPT -o OUT   post-training quantization (calibration, AdaRound)
//	lowbit bench NAME             kernels, train, accuracy, imagenet reports
//	lowbit plot RUNDIR            loss and accuracy curves of a run as PNG
//	lowbit version                module version and VCS revision
//
// Run "lowbit COMMAND -h" or "lowbit help COMMAND" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"
)

type command struct {
	about string
	run   func(args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(name, about string, run func([]string, io.Writer) error) {
	commands[name] = command{about, run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: lowbit COMMAND [flags] [args]")
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].about)
	}
}

// run executes one command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	defer func(w io.Writer) { flagOut = w }(flagOut)
	flagOut = stderr
	if len(args) > 1 && args[0] == "help" {
		return runHelp(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lowbit: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "lowbit %s: %s\n", args[0], oneLine(err))
		if isUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func main() {
	logrus.SetOutput(os.Stderr)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseInterleaved parses flags that may come after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
