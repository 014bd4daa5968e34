package layers

import (
	"runtime"
	"sync"
)

// minParallel is the element count below which elementwise kernels stay on one goroutine.
const minParallel = 1 << 15

// parallelRows splits rows [0,n) into one contiguous chunk per core (when the work,
// n·width values, is large enough) and runs fn on each; part numbers the chunk.
func parallelRows(n, width int, fn func(part, lo, hi int)) int {
	t := runtime.GOMAXPROCS(0)
	if n*width < minParallel || t < 2 || n < 2 {
		fn(0, 0, n)
		return 1
	}
	t = min(t, n, 8)
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
