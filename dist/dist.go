// Package dist holds what data-parallel training needs from a process group:
// a Comm with the rank, the group size and a few collectives. Built with the
// mpi tag, Open joins the MPI job the process was launched in (mpirun, srun,
// a Kubeflow MPIJob) through cogentcore.org/lab/base/mpi; otherwise, and
// whenever the job has one process, it returns Local.
package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Comm is a group of processes that run the same program in lock step.
// Every collective must be called by every rank, in the same order.
type Comm interface {
	Rank() int // this process, from 0
	Size() int // the number of processes
	// AllReduceF32 replaces buf with its element-wise sum over all ranks.
	AllReduceF32(buf []float32) error
	// AllReduceF64 replaces buf with its element-wise sum over all ranks.
	AllReduceF64(buf []float64) error
	// BcastF32 copies root's buf into every rank's buf.
	BcastF32(root int, buf []float32) error
	// Barrier returns when every rank has reached it.
	Barrier() error
	// Close leaves the group (MPI_Finalize); call it once, after the last collective.
	Close() error
	// String names the transport, e.g. "mpi 2 ranks".
	String() string
}

// Local is the one-process group: every collective leaves buf as it is.
type Local struct{}

func (Local) Rank() int                    { return 0 }
func (Local) Size() int                    { return 1 }
func (Local) AllReduceF32([]float32) error { return nil }
func (Local) AllReduceF64([]float64) error { return nil }
func (Local) BcastF32(root int, _ []float32) error {
	if root != 0 {
		return fmt.Errorf("dist: broadcast from rank %d in a group of 1", root)
	}
	return nil
}
func (Local) Barrier() error { return nil }
func (Local) Close() error   { return nil }
func (Local) String() string { return "local (1 process)" }

// Single reports whether c is nil or has one process.
func Single(c Comm) bool { return c == nil || c.Size() <= 1 }

// BucketValues is the number of float32 values AllReduceMean sends per call (4 MiB).
const BucketValues = 1 << 20

// AllReduceMean replaces buf with its element-wise mean over all ranks,
// reducing BucketValues values at a time.
func AllReduceMean(c Comm, buf []float32) error {
	if Single(c) {
		return nil
	}
	for lo := 0; lo < len(buf); lo += BucketValues {
		if err := c.AllReduceF32(buf[lo:min(lo+BucketValues, len(buf))]); err != nil {
			return fmt.Errorf("dist: allreduce: %w", err)
		}
	}
	inv := 1 / float32(c.Size())
	for i := range buf {
		buf[i] *= inv
	}
	return nil
}

// ErrMismatch reports ranks that run different builds or configurations.
var ErrMismatch = errors.New("dist: ranks disagree")

// CheckSame fails on every rank with ErrMismatch unless every rank passed the
// same fingerprint (e.g. a hash of the build and the run's configuration).
// what names the fingerprint in the error.
func CheckSame(c Comm, fingerprint [32]byte, what string) error {
	if Single(c) {
		return nil
	}
	// Rank 0's fingerprint in 16-bit pieces: exact in float32.
	var mine, root [16]float32
	for i := range mine {
		mine[i] = float32(binary.LittleEndian.Uint16(fingerprint[2*i:]))
	}
	root = mine
	if err := c.BcastF32(0, root[:]); err != nil {
		return fmt.Errorf("dist: broadcast %s: %w", what, err)
	}
	differ := []float64{0}
	if mine != root {
		differ[0] = 1
	}
	if err := c.AllReduceF64(differ); err != nil {
		return fmt.Errorf("dist: compare %s: %w", what, err)
	}
	if differ[0] != 0 {
		return fmt.Errorf("%w: %d of %d ranks have a %s different from rank 0's (rank %d's is %x); launch one build with the same flags everywhere",
			ErrMismatch, int(differ[0]), c.Size(), what, c.Rank(), fingerprint[:8])
	}
	return nil
}

// Shard returns the half-open range of n items that rank takes of size ranks:
// contiguous, in rank order, the first n%size ranks one item longer.
func Shard(n, rank, size int) (lo, hi int) {
	q, r := n/size, n%size
	lo = rank*q + min(rank, r)
	hi = lo + q
	if rank < r {
		hi++
	}
	return lo, hi
}
