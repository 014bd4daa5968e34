package parallel

import (
	"sync"
	"sync/atomic"
	"testing"
)

// countParts counts how often each part runs, and runs a nested Run from
// part 0 when nest is set.
type countParts struct {
	seen []atomic.Int32
	nest bool
}

func (c *countParts) RunPart(i int) {
	c.seen[i].Add(1)
	if c.nest && i == 0 {
		inner := &countParts{seen: make([]atomic.Int32, 5)}
		Run(inner, 5, 3)
		for k := range inner.seen {
			if inner.seen[k].Load() != 1 {
				panic("nested part did not run once")
			}
		}
	}
}

// TestRunEachPartOnce runs many calls back to back, from several
// goroutines at once and nested: every part must run exactly once per
// call.
func TestRunEachPartOnce(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for it := range 300 {
				n, th := 1+(it*7+g)%13, 1+(it+g)%5
				c := &countParts{seen: make([]atomic.Int32, n), nest: it%17 == 0}
				Run(c, n, th)
				for i := range c.seen {
					if got := c.seen[i].Load(); got != 1 {
						t.Errorf("goroutine %d call %d: part %d of %d ran %d times", g, it, i, n, got)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
