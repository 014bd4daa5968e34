//go:build unix

package bench

import "syscall"

// freeze stops (SIGSTOP) or resumes (SIGCONT) a worker process. Workers not
// being timed are kept stopped: an idle Go process still wakes up (sysmon,
// the scavenger), and on two cores any runnable thread stalls PyTorch's
// OpenMP barriers, which then time out into sleeps. In-process workers are
// left alone.
func (p *trainProc) freeze(on bool) {
	if p.cmd == nil || p.cmd.Process == nil || p.err != nil && on {
		return
	}
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	p.cmd.Process.Signal(sig)
}
