package dist

import (
	"errors"
	"fmt"
	"sync"
)

// NewGroup returns n Comms that form one group inside this process, one per
// goroutine: a stand-in for an MPI job in tests and for in-process debugging.
// Sums run in rank order, in float64 for AllReduceF64 and float32 otherwise.
func NewGroup(n int) ([]Comm, error) {
	if n < 1 || n > 1024 {
		return nil, fmt.Errorf("dist: group of %d processes", n)
	}
	g := &group{n: n, bufs: make([]any, n)}
	g.cond = sync.NewCond(&g.mu)
	out := make([]Comm, n)
	for r := range out {
		out[r] = &member{g: g, rank: r}
	}
	return out, nil
}

type group struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n       int
	arrived int
	left    int
	closed  int // members that left: collectives then fail instead of waiting forever
	gen     uint64
	bufs    []any
	err     error
}

// collective deposits buf, and once all ranks have, runs combine on the last
// to arrive; it returns when every rank has passed combine.
func (g *group) collective(rank int, buf any, combine func(bufs []any) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.left > 0 { // the previous collective is still draining
		g.cond.Wait()
	}
	gen := g.gen
	if g.closed > 0 {
		return errLeft
	}
	g.bufs[rank] = buf
	g.arrived++
	if g.arrived == g.n {
		g.err = combine(g.bufs)
		g.arrived, g.left = 0, g.n
		g.gen++
		g.cond.Broadcast()
	} else {
		for g.gen == gen {
			if g.closed > 0 {
				g.arrived--
				return errLeft
			}
			g.cond.Wait()
		}
	}
	err := g.err
	g.left--
	if g.left == 0 {
		g.cond.Broadcast()
	}
	return err
}

var errLeft = errors.New("dist: a member left the group during a collective")

type member struct {
	g    *group
	rank int
}

func (m *member) Rank() int { return m.rank }
func (m *member) Size() int { return m.g.n }
func (m *member) Barrier() error {
	return m.g.collective(m.rank, nil, func([]any) error { return nil })
}

// Close leaves the group: the other members' collectives then fail (as MPI's
// launcher ends a job whose rank exited) instead of waiting forever.
func (m *member) Close() error {
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	m.g.closed++
	m.g.cond.Broadcast()
	return nil
}
func (m *member) String() string { return fmt.Sprintf("in-process group of %d", m.g.n) }

func (m *member) AllReduceF32(buf []float32) error {
	return m.g.collective(m.rank, buf, func(bufs []any) error {
		sum := make([]float32, len(buf))
		for _, b := range bufs {
			v := b.([]float32)
			if len(v) != len(sum) {
				return fmt.Errorf("dist: allreduce of %d and %d values", len(v), len(sum))
			}
			for i, x := range v {
				sum[i] += x
			}
		}
		for _, b := range bufs {
			copy(b.([]float32), sum)
		}
		return nil
	})
}

func (m *member) AllReduceF64(buf []float64) error {
	return m.g.collective(m.rank, buf, func(bufs []any) error {
		sum := make([]float64, len(buf))
		for _, b := range bufs {
			v := b.([]float64)
			if len(v) != len(sum) {
				return fmt.Errorf("dist: allreduce of %d and %d values", len(v), len(sum))
			}
			for i, x := range v {
				sum[i] += x
			}
		}
		for _, b := range bufs {
			copy(b.([]float64), sum)
		}
		return nil
	})
}

func (m *member) BcastF32(root int, buf []float32) error {
	if root < 0 || root >= m.g.n {
		return fmt.Errorf("dist: broadcast from rank %d in a group of %d", root, m.g.n)
	}
	return m.g.collective(m.rank, buf, func(bufs []any) error {
		src := bufs[root].([]float32)
		for _, b := range bufs {
			if len(b.([]float32)) != len(src) {
				return fmt.Errorf("dist: broadcast of %d values into %d", len(src), len(b.([]float32)))
			}
			copy(b.([]float32), src)
		}
		return nil
	})
}
