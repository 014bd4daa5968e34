// Package parallel splits elementwise kernels over the cores: contiguous
// chunks of rows, when the work is large enough to pay for the goroutines.
//
// The chunks depend only on the size of the work, never on the number of
// cores, so a caller that reduces per-chunk partial sums in chunk order gets
// the same bits on 1 core and on 64: training results do not depend on
// GOMAXPROCS.
package parallel

import (
	"runtime"
	"sync"
)

// MinWork is the element count below which a call stays in one chunk.
const MinWork = 1 << 15

// MaxParts is the most chunks Rows makes; callers size per-chunk partial
// results with it.
const MaxParts = 8

// Rows splits rows [0,n) into min(n, MaxParts) contiguous chunks (one, when the
// work, n·width values, is below MinWork) and runs fn on each, on up to
// GOMAXPROCS goroutines; part numbers the chunk from 0. It returns the number
// of chunks.
func Rows(n, width int, fn func(part, lo, hi int)) int {
	if n*width < MinWork || n < 2 {
		fn(0, 0, n)
		return 1
	}
	chunk := (n + MaxParts - 1) / MaxParts
	parts := (n + chunk - 1) / chunk
	r := rowsPool.Get().(*rows)
	*r = rows{fn: fn, n: n, chunk: chunk}
	Run(r, parts, runtime.GOMAXPROCS(0))
	*r = rows{}
	rowsPool.Put(r)
	return parts
}

// rows is one Rows call's Runner: part p is chunk p.
type rows struct {
	fn       func(part, lo, hi int)
	n, chunk int
}

var rowsPool = sync.Pool{New: func() any { return new(rows) }}

func (r *rows) RunPart(p int) { r.fn(p, p*r.chunk, min(r.n, (p+1)*r.chunk)) }
