//go:build unix

package benchproc

import "syscall"

// Freeze stops (SIGSTOP) or resumes (SIGCONT) a child worker, so workers
// not being timed take no CPU. In-process workers are left alone.
func (p *Proc) Freeze(on bool) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	p.cmd.Process.Signal(sig)
}
