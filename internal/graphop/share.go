package graphop

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ShareStats reports what Share planned: the floats the graph's op outputs
// take with one buffer each, and with the shared buffers.
type ShareStats struct {
	Outputs        int // op output tensors planned
	Separate       int // floats, one buffer per output
	Shared         int // floats, after sharing
	Buffers        int // shared buffers allocated
	SkippedExterns bool
}

// Share lets op outputs whose values are never needed at the same time use
// the same memory, as a compiler's register allocator does. It follows the
// order gorgonia's tape machine runs g in (its stable topological sort): an
// output is busy from the op that writes it to the last op that reads it,
// or to the end of the run for the nodes in keep (the values read after
// RunAll: loss, logits, gradients). A node of a gorgonia-native op may alias
// its inputs (elementwise ops run in place), so its inputs stay busy as long
// as it does. Outputs with disjoint busy intervals get one buffer, sized for
// the largest of them; scalars keep their own.
//
// Kernels may assume nothing about an output's old contents, so sharing
// changes no result. Share must be called before the graph's first run
// (buffers already made are replaced). A graph with a native op that calls
// an external library (gorgonia preallocates those outputs in registers it
// reuses) is left as it is.
func Share(g *gorgonia.ExprGraph, keep ...*gorgonia.Node) (ShareStats, error) {
	var st ShareStats
	order, err := gorgonia.Sort(g)
	if err != nil {
		return st, fmt.Errorf("graphop: share: %w", err)
	}
	slices.Reverse(order)
	for _, n := range order {
		if op := n.Op(); op != nil && !ours(op) && op.CallsExtern() {
			st.SkippedExterns = true
			return st, nil
		}
	}
	last := busyUntil(g, order, keep)
	plan := assign(order, last, &st)
	for _, p := range plan {
		backing := make([]float32, p.size)
		for _, u := range p.users {
			shape := u.node.Shape().Clone()
			u.buf.dense = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing[:shape.TotalSize()]))
		}
	}
	return st, nil
}

// ours reports whether op is one of this package's ops.
func ours(op gorgonia.Op) bool {
	switch op.(type) {
	case *fwdOp, *bwdOp:
		return true
	}
	return false
}

// bufferOf returns the output buffer of a node of this package's ops.
func bufferOf(n *gorgonia.Node) *buffer {
	switch op := n.Op().(type) {
	case *fwdOp:
		return &op.out
	case *bwdOp:
		return &op.out
	}
	return nil
}

// busyUntil returns, for every node, the index in order of the last op that
// reads its value (directly or through a native op's alias); len(order) for
// the nodes in keep.
func busyUntil(g *gorgonia.ExprGraph, order gorgonia.Nodes, keep gorgonia.Nodes) map[*gorgonia.Node]int {
	last := make(map[*gorgonia.Node]int, len(order))
	for i, n := range order {
		last[n] = max(last[n], i)
		for _, c := range children(g, n) {
			last[c] = max(last[c], i)
		}
	}
	for _, n := range keep {
		last[n] = len(order)
	}
	// Consumers come after their inputs, so walking backwards settles a
	// node's interval before it is passed on to the inputs it may alias.
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if op := n.Op(); op != nil && !ours(op) {
			for _, c := range children(g, n) {
				last[c] = max(last[c], last[n])
			}
		}
	}
	return last
}

// slot is one shared buffer and the outputs that use it in turn.
type slot struct {
	size  int
	until int // the last op index of its current user
	users []user
}

type user struct {
	node *gorgonia.Node
	buf  *buffer
}

// assign gives each non-scalar output of this package's ops a slot whose
// previous user's interval has ended, preferring the smallest that fits, then
// the largest free one (grown), then a new one.
func assign(order gorgonia.Nodes, last map[*gorgonia.Node]int, st *ShareStats) []*slot {
	var slots []*slot
	for i, n := range order {
		buf := bufferOf(n)
		if buf == nil || len(n.Shape()) == 0 {
			continue
		}
		size := n.Shape().TotalSize()
		st.Outputs++
		st.Separate += size
		var best *slot
		for _, s := range slots {
			if s.until >= i {
				continue
			}
			switch {
			case best == nil:
				best = s
			case s.size >= size && (best.size < size || s.size < best.size):
				best = s
			case best.size < size && s.size > best.size:
				best = s
			}
		}
		if best == nil {
			best = &slot{}
			slots = append(slots, best)
		}
		best.size = max(best.size, size)
		best.until = last[n]
		best.users = append(best.users, user{n, buf})
	}
	for _, s := range slots {
		st.Shared += s.size
	}
	st.Buffers = len(slots)
	return slots
}

// children lists the inputs of n.
func children(g *gorgonia.ExprGraph, n *gorgonia.Node) []*gorgonia.Node {
	it := g.From(n.ID())
	if it == nil {
		return nil
	}
	var out []*gorgonia.Node
	for it.Next() {
		if c, ok := it.Node().(*gorgonia.Node); ok {
			out = append(out, c)
		}
	}
	return out
}
