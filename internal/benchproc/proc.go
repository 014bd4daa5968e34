package benchproc

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is the parent's handle on one worker: a child process, or a
// goroutine serving the same protocol in this process.
//
// The protocol is one line each way. On start, after its warm-up, a
// worker says "ready SECONDS" (the last warm-up step); it then answers each
// request with one line whose first word is the reply's verb, or "error
// MESSAGE" when it fails.
type Proc struct {
	name   string
	in     io.WriteCloser
	lines  chan string
	cmd    *exec.Cmd
	stderr *tailBuffer
	served chan error // in-process workers

	waitOnce sync.Once
	exited   chan struct{} // closed once the child has been waited for
}

// Start starts cmd as a worker named name (used in errors). Its stderr is
// kept (the last 4 kB) for error messages.
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{name: name, cmd: cmd, stderr: &tailBuffer{}}
	cmd.Stderr = p.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("benchproc: %s: %w", name, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("benchproc: %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchproc: %s: %w", name, err)
	}
	p.in = in
	p.readLines(out)
	return p, nil
}

// StartFunc serves the protocol with serve in a goroutine of this process.
func StartFunc(name string, serve func(in io.Reader, out io.Writer) error) *Proc {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &Proc{name: name, in: inW, served: make(chan error, 1)}
	go func() {
		err := serve(inR, outW)
		outW.Close()
		inR.Close()
		p.served <- err
	}()
	p.readLines(outR)
	return p
}

func (p *Proc) readLines(r io.Reader) {
	p.lines = make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
}

// Name is the worker's name.
func (p *Proc) Name() string { return p.name }

// Pid is the child's process id, 0 for an in-process worker.
func (p *Proc) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Ready waits up to timeout for the worker's "ready SECONDS" and returns
// the seconds.
func (p *Proc) Ready(timeout time.Duration) (float64, error) {
	f, err := p.Next("ready", timeout)
	if err != nil {
		return 0, err
	}
	if len(f) < 1 {
		return 0, fmt.Errorf("benchproc: %s: ready without a time", p.name)
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("benchproc: %s: bad ready time %q", p.name, f[0])
	}
	return s, nil
}

// Next reads the worker's next reply within timeout, checks its verb and
// returns the remaining fields.
func (p *Proc) Next(verb string, timeout time.Duration) ([]string, error) {
	select {
	case line, ok := <-p.lines:
		if !ok {
			// Stdout is at EOF: wait briefly for the exit, so stderr is
			// all copied.
			if p.cmd != nil {
				select {
				case <-p.wait():
				case <-time.After(2 * time.Second):
				}
			}
			return nil, fmt.Errorf("benchproc: %s exited%s", p.name, p.stderrNote())
		}
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "error" {
			return nil, fmt.Errorf("benchproc: %s: %s", p.name, strings.TrimPrefix(line, "error "))
		}
		if len(f) == 0 || f[0] != verb {
			return nil, fmt.Errorf("benchproc: %s: unexpected reply %q", p.name, line)
		}
		return f[1:], nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("benchproc: %s: no reply within %v", p.name, timeout)
	}
}

// Ask sends one request line and reads the reply (see Next).
func (p *Proc) Ask(req, verb string, timeout time.Duration) ([]string, error) {
	if p.in == nil {
		return nil, fmt.Errorf("benchproc: %s: already closed", p.name)
	}
	if _, err := fmt.Fprintln(p.in, req); err != nil {
		return nil, fmt.Errorf("benchproc: %s: %w%s", p.name, err, p.stderrNote())
	}
	return p.Next(verb, timeout)
}

func (p *Proc) stderrNote() string {
	if s := p.stderr.String(); s != "" {
		return ": " + s
	}
	return ""
}

// Close resumes the worker, sends quit (when not "") and reads its reply
// (verb), then closes its input and waits for it, killing a child that
// has not exited within 10 s. It returns the reply's fields; closing an
// already closed worker returns nil, nil.
func (p *Proc) Close(quit, verb string) ([]string, error) {
	if p.in == nil {
		return nil, nil
	}
	p.Freeze(false)
	var f []string
	var err error
	if quit != "" {
		f, err = p.Ask(quit, verb, 30*time.Second)
	}
	p.in.Close()
	p.in = nil
	if p.cmd != nil {
		select {
		case <-p.wait():
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.wait()
		}
	}
	if p.served != nil {
		<-p.served
	}
	return f, err
}

// wait starts waiting for the child, once, and returns a channel closed
// when it has exited.
func (p *Proc) wait() <-chan struct{} {
	p.waitOnce.Do(func() {
		p.exited = make(chan struct{})
		go func() { p.cmd.Wait(); close(p.exited) }()
	})
	return p.exited
}

// Closed reports whether Close ran.
func (p *Proc) Closed() bool { return p.in == nil }

// tailBuffer keeps the last few kB written to it (a child's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
