// Package benchproc runs the worker processes of lowbit's benchmarks and
// watches the machine they run on.
//
// A benchmark that compares configurations (or lowbit against PyTorch)
// runs each one in its own process so that each gets its own peak RSS and
// no process's allocations disturb another's timings. The parent talks to
// a worker over its stdin and stdout, one line each way: the worker warms
// up, says "ready SECONDS", then answers requests until asked to quit
// (see Proc). Workers not being timed are frozen with SIGSTOP: an idle Go
// process still wakes up (sysmon, the scavenger), and on two cores any
// runnable thread stalls PyTorch's OpenMP barriers.
//
// Shared machines are noisy, so a benchmark also counts what other
// processes use (Counters, from /proc/stat less its own processes) and can
// probe the core it runs on (Watch): a round taken while the machine was
// busy is re-run, or its verdicts are not printed as a pass.
//
// A peer is configured as its users would run it: PeerEnv builds its
// environment (OpenMP waits passive, OpenBLAS free to pick its own kernel)
// for the peer process only.
package benchproc
