package recipes

import (
	"context"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/models"
)

// TestTrainMemoryFlat is the memory-growth regression test: after the first
// epoch, an epoch of Train allocates far less than one evaluation graph
// (the run keeps one graph, where it once compiled a new one per epoch), and
// the live heap at each epoch's end stays where it was after the second.
func TestTrainMemoryFlat(t *testing.T) {
	train, test := mnist(t, 512, 500)
	const evalBatch = 250
	spec := models.Spec{Name: "lenet5", Seed: 1}
	var graphBytes uint64
	{
		s := spec
		if err := fitSpec(&s, train); err != nil {
			t.Fatal(err)
		}
		m, err := models.New(s)
		if err != nil {
			t.Fatal(err)
		}
		before := totalAlloc()
		var e Evaluator
		if _, _, err := e.Evaluate(m, test, evalBatch, 1, evalBatch); err != nil {
			t.Fatal(err)
		}
		graphBytes = totalAlloc() - before
		e.Close()
	}
	var allocs, heaps []uint64
	last := totalAlloc()
	_, err := Train(context.Background(), Config{
		Model: spec, Train: train, Test: test, Epochs: 5, Batch: 64, EvalBatch: evalBatch, Workers: 1, Seed: 2,
		OnEpoch: func(EpochStats) {
			now := totalAlloc()
			allocs = append(allocs, now-last)
			last = now
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluation graph %d KiB; per-epoch allocations %v KiB; heap at epoch ends %v KiB", graphBytes>>10, kib(allocs), kib(heaps))
	for i := 1; i < len(allocs); i++ {
		if allocs[i] > graphBytes/2 {
			t.Errorf("epoch %d allocated %d KiB, more than half an evaluation graph (%d KiB)", i+1, allocs[i]>>10, graphBytes>>10)
		}
	}
	for i := 2; i < len(heaps); i++ {
		if heaps[i] > heaps[1]+heaps[1]/10+1<<20 {
			t.Errorf("heap after epoch %d is %d KiB, after epoch 2 %d KiB: it grows", i+1, heaps[i]>>10, heaps[1]>>10)
		}
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func kib(v []uint64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = x >> 10
	}
	return out
}
