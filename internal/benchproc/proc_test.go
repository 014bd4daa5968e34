package benchproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// echo serves the test protocol: "ready 0.5", then "twice N" → "twice 2N",
// "quit" → "bye"; anything else is an error.
func echo(in io.Reader, out io.Writer) error {
	fmt.Fprintln(out, "ready 0.5")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var n int
		switch {
		case sc.Text() == "quit":
			fmt.Fprintln(out, "bye")
			return nil
		case strings.HasPrefix(sc.Text(), "twice "):
			fmt.Sscan(strings.TrimPrefix(sc.Text(), "twice "), &n)
			fmt.Fprintf(out, "twice %d\n", 2*n)
		default:
			fmt.Fprintf(out, "error unknown %q\n", sc.Text())
		}
	}
	return nil
}

// TestHelperWorker is the child process of TestProc.
func TestHelperWorker(t *testing.T) {
	if os.Getenv("LOWBIT_BENCHPROC_CHILD") == "" {
		t.Skip("helper process for TestProc")
	}
	if os.Getenv("LOWBIT_BENCHPROC_CHILD") == "die" {
		fmt.Fprintln(os.Stderr, "dying on purpose")
		os.Exit(3)
	}
	echo(os.Stdin, os.Stdout)
	os.Exit(0)
}

func child(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$")
	cmd.Env = append(os.Environ(), "LOWBIT_BENCHPROC_CHILD="+mode)
	return cmd
}

func TestProc(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	start := map[string]func() (*Proc, error){
		"child":      func() (*Proc, error) { return Start("w", child("echo")) },
		"in-process": func() (*Proc, error) { return StartFunc("w", echo), nil },
	}
	for name, st := range start {
		p, err := st()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w, err := p.Ready(time.Minute); err != nil || w != 0.5 {
			t.Errorf("%s: ready %v, %v", name, w, err)
		}
		if (p.Pid() != 0) != (name == "child") {
			t.Errorf("%s: pid %d", name, p.Pid())
		}
		p.Freeze(true)
		p.Freeze(false)
		if f, err := p.Ask("twice 21", "twice", time.Minute); err != nil || len(f) != 1 || f[0] != "42" {
			t.Errorf("%s: twice 21 → %q, %v", name, f, err)
		}
		if _, err := p.Ask("fly", "fly", time.Minute); err == nil || !strings.Contains(err.Error(), `unknown "fly"`) {
			t.Errorf("%s: error reply gave %v", name, err)
		}
		p.Freeze(true) // Close resumes a frozen worker
		if f, err := p.Close("quit", "bye"); err != nil || len(f) != 0 || !p.Closed() {
			t.Errorf("%s: close %q, %v", name, f, err)
		}
		if f, err := p.Close("quit", "bye"); f != nil || err != nil {
			t.Errorf("%s: second close %q, %v", name, f, err)
		}
	}
}

func TestProcDies(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	p, err := Start("w", child("die"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close("", "")
	_, err = p.Ready(time.Minute)
	if err == nil || !strings.Contains(err.Error(), "w exited: dying on purpose") {
		t.Errorf("err %v, want the exit with its stderr", err)
	}
}
