package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// countParts is a runner that counts how often each part runs.
type countParts struct{ seen []atomic.Int32 }

func (c *countParts) runPart(i int) { c.seen[i].Add(1) }

// TestPartsRunner: parallel offers its parts to SetPartsRunner's runner
// only while active > 0; every part runs once whether the runner takes
// them, declines them, or is not asked; and Sgemm's result is the same.
func TestPartsRunner(t *testing.T) {
	defer SetPartsRunner(nil, nil)
	var active atomic.Int32
	var asked, take atomic.Bool
	SetPartsRunner(func(n, t int, part func(i int)) bool {
		asked.Store(true)
		if !take.Load() {
			return false
		}
		for i := n - 1; i >= 0; i-- {
			part(i)
		}
		return true
	}, &active)
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 96, 80, 130
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	var want []float32
	for _, c := range []struct{ active, take, wantAsked bool }{
		{false, true, false}, {true, false, true}, {true, true, true},
	} {
		t.Run(fmt.Sprintf("active%v/take%v", c.active, c.take), func(t *testing.T) {
			active.Store(map[bool]int32{false: 0, true: 1}[c.active])
			take.Store(c.take)
			asked.Store(false)
			r := &countParts{seen: make([]atomic.Int32, 9)}
			parallel(r, 9, 3)
			for i := range r.seen {
				if got := r.seen[i].Load(); got != 1 {
					t.Fatalf("part %d ran %d times", i, got)
				}
			}
			if asked.Load() != c.wantAsked {
				t.Fatalf("runner asked %v, want %v", asked.Load(), c.wantAsked)
			}
			got := make([]float32, m*n)
			if err := Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n); err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("c[%d] = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}
