// Package parallel splits elementwise kernels over the cores: one contiguous
// chunk of rows per core when the work is large enough to pay for the goroutines.
package parallel

import (
	"runtime"
	"sync"
)

// MinWork is the element count below which a call stays on one goroutine.
const MinWork = 1 << 15

// MaxParts is the most chunks Rows splits into (and so the largest part
// number + 1): callers that keep one partial result per chunk, such as LSQ's
// step gradient, size their arrays with it.
const MaxParts = 8

// Rows splits rows [0,n) into one contiguous chunk per core (at most MaxParts, when the
// work, n·width values, is at least MinWork) and runs fn on each; part numbers the
// chunk from 0. It returns the number of chunks.
func Rows(n, width int, fn func(part, lo, hi int)) int {
	t := runtime.GOMAXPROCS(0)
	if n*width < MinWork || t < 2 || n < 2 {
		fn(0, 0, n)
		return 1
	}
	t = min(t, n, MaxParts)
	chunk := (n + t - 1) / t
	parts := (n + chunk - 1) / chunk
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			fn(p, p*chunk, min(n, (p+1)*chunk))
		}(p)
	}
	fn(0, 0, min(n, chunk))
	wg.Wait()
	return parts
}
