package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/internal/benchproc"
)

// trainProc is the parent's handle on one worker (ours, in a child process
// or in-process, or PyTorch) and its measurements.
type trainProc struct {
	model, config string
	batch         int
	torch         bool
	threads       int // PyTorch's thread setting; 0 for ours

	proc *benchproc.Proc
	warm float64 // seconds of the last warm-up step
	info *TorchInfo

	steps  int       // timed steps per round
	times  []float64 // seconds per step, one per round
	rounds []int     // the run-wide round number of each entry of times
	bytes  []float64 // per step, one per round
	// mallocs per step, one per round
	mallocs []float64
	peakKB  int64
	err     error
}

func (p *trainProc) name() string {
	if p.torch {
		return fmt.Sprintf("%s/%s-%dt", p.model, p.config, p.threads)
	}
	return p.model + "/" + p.config
}

// start launches the worker (a child process, or ServeTrain in-process
// when cmd is nil), waits for its warm-up and freezes it until its first
// round. Failures are kept in p.err.
func (p *trainProc) start(cmd *exec.Cmd, w TrainWorker) {
	if cmd == nil {
		p.proc = benchproc.StartFunc(p.name(), func(in io.Reader, out io.Writer) error { return ServeTrain(w, in, out) })
	} else if p.proc, p.err = benchproc.Start(p.name(), cmd); p.err != nil {
		return
	}
	if p.warm, p.err = p.proc.Ready(10 * time.Minute); p.err != nil {
		return
	}
	if p.torch {
		p.info, p.err = askTorchInfo(p.proc)
	}
	p.freeze(true)
}

// askTorchInfo asks a PyTorch worker what it runs on (torch_train.py's
// "info" request).
func askTorchInfo(proc *benchproc.Proc) (*TorchInfo, error) {
	f, err := proc.Ask("info", "info", time.Minute)
	if err != nil {
		return nil, err
	}
	info := &TorchInfo{}
	if err := json.Unmarshal([]byte(strings.Join(f, " ")), info); err != nil {
		return nil, fmt.Errorf("bench: %s: bad info reply: %w", proc.Name(), err)
	}
	return info, nil
}

// freeze stops or resumes a child worker (SIGSTOP/SIGCONT); a failed
// worker is not stopped again.
func (p *trainProc) freeze(on bool) {
	if p.proc == nil || p.err != nil && on {
		return
	}
	p.proc.Freeze(on)
}

// pid is the worker's process id while it runs, 0 otherwise.
func (p *trainProc) pid() int {
	if p.proc == nil || p.proc.Closed() {
		return 0
	}
	return p.proc.Pid()
}

// sample times one round (round is its run-wide number) of p's steps.
func (p *trainProc) sample(round int) {
	timeout := time.Duration(float64(p.steps)*p.warm*20*float64(time.Second)) + time.Minute
	f, err := p.proc.Ask(fmt.Sprintf("run %d", p.steps), "done", timeout)
	if err == nil && len(f) < 3 {
		err = fmt.Errorf("bench: %s: short reply %q", p.name(), f)
	}
	if err != nil {
		p.err = err
		return
	}
	secs, _ := strconv.ParseFloat(f[0], 64)
	p.times = append(p.times, secs/float64(p.steps))
	p.rounds = append(p.rounds, round)
	if b, err := strconv.ParseFloat(f[1], 64); err == nil {
		p.bytes = append(p.bytes, b/float64(p.steps))
	}
	if m, err := strconv.ParseFloat(f[2], 64); err == nil {
		p.mallocs = append(p.mallocs, m/float64(p.steps))
	}
}

// stop asks the worker to quit, reads its peak RSS and releases it.
func (p *trainProc) stop() {
	if p.proc == nil {
		return
	}
	quit := "quit"
	if p.err != nil {
		quit = ""
	}
	if f, err := p.proc.Close(quit, "peak"); err == nil && len(f) > 0 {
		p.peakKB, _ = strconv.ParseInt(f[0], 10, 64)
	}
}

// pairedWith returns, for each of p's rounds, ref's time per step in the
// same round (NaN where ref was not measured).
func (p *trainProc) pairedWith(ref *trainProc) []float64 {
	out := make([]float64, len(p.rounds))
	for i, r := range p.rounds {
		out[i] = math.NaN()
		if ref == nil {
			continue
		}
		for j, rr := range ref.rounds {
			if rr == r {
				out[i] = ref.times[j]
			}
		}
	}
	return out
}
