//go:build unix

package gemm

import "syscall"

// processCPU is the user+system CPU time this process has used, in ns:
// on a shared machine it moves less with other load than wall time does.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
