package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/recipes"
)

// joinRanks puts the process group (the MPI job of a -tags mpi build launched by
// mpirun, srun or an MPIJob; one process otherwise) into *comm. Ranks other
// than 0 train silently: their log and stdout are discarded, errors still show.
// finish must get Train's error: it leaves the group when every rank stops
// together (success, a non-finite loss or gradient, refused flags); after a failure of this
// rank alone it leaves MPI unfinalized, so the launcher ends the other ranks.
func joinRanks(comm *dist.Comm, syncBN bool, rep *reporter, stdout *io.Writer) (finish func(error) error, err error) {
	c, err := dist.Open()
	if err != nil {
		return nil, err
	}
	*comm = c
	if c.Rank() != 0 {
		rep.log.SetOutput(io.Discard)
		rep.w = io.Discard
		*stdout = io.Discard
	}
	if syncBN && c.Size() == 1 {
		rep.log.Warn("-sync-bn with one process: BatchNorm already sees the whole batch")
	}
	rank, size := c.Rank(), c.Size()
	return func(err error) error {
		if err == nil || errors.Is(err, recipes.ErrNonFinite) || errors.Is(err, optim.ErrNonFinite) || errors.Is(err, dist.ErrMismatch) {
			if cerr := c.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
		if err != nil && size > 1 {
			return fmt.Errorf("rank %d of %d: %w", rank, size, err)
		}
		return err
	}, nil
}
