//go:build mpi

package dist

import (
	"errors"
	"fmt"

	"cogentcore.org/lab/base/mpi"
)

// Tag is the build's transport.
const Tag = "mpi"

// Open joins the MPI job (MPI_Init). A job of one process, such as a binary run
// without mpirun, works too; Open then still returns the MPI group of one.
// OpenMPI's default error handler is MPI_ERRORS_ARE_FATAL: a rank that dies
// makes mpirun end the others.
func Open() (Comm, error) {
	if !mpi.IsOn() {
		mpi.Init()
	}
	c, err := mpi.NewComm(nil)
	if err != nil {
		return nil, fmt.Errorf("dist: mpi: %w", err)
	}
	return &mpiComm{c: c}, nil
}

type mpiComm struct {
	c      *mpi.Comm
	closed bool
}

func (m *mpiComm) Rank() int { return m.c.Rank() }
func (m *mpiComm) Size() int { return m.c.Size() }

func (m *mpiComm) AllReduceF32(buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	return m.c.AllReduceF32(mpi.OpSum, buf, nil)
}

func (m *mpiComm) AllReduceF64(buf []float64) error {
	if len(buf) == 0 {
		return nil
	}
	return m.c.AllReduceF64(mpi.OpSum, buf, nil)
}

func (m *mpiComm) BcastF32(root int, buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	return m.c.BcastF32(root, buf)
}

func (m *mpiComm) Barrier() error { return m.c.Barrier() }

func (m *mpiComm) Close() error {
	if m.closed {
		return errors.New("dist: mpi: closed twice")
	}
	m.closed = true
	mpi.Finalize()
	return nil
}

func (m *mpiComm) String() string { return fmt.Sprintf("mpi, %d ranks", m.Size()) }
