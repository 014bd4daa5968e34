package recipes

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// TestThreadCountIndependent trains the same LSQ LeNet-5 steps with GOMAXPROCS
// and loader workers 1 and 4: every weight, BatchNorm statistic and quantizer
// step must come out bit for bit the same. GEMM's thread count is held: its
// K-split sums in an order that depends on it, so the checkpoint records it
// (checked here) and the CLI warns when a resume uses another.
func TestThreadCountIndependent(t *testing.T) {
	train, test := mnist(t, 1024, 64)
	if gemm.UsingOpenBLAS() {
		t.Skip("OpenBLAS's sums may depend on its thread count; the checkpoint records it and a resume warns")
	}
	dir := t.TempDir()
	prevP, prevT := runtime.GOMAXPROCS(0), gemm.Threads()
	defer func() { runtime.GOMAXPROCS(prevP); gemm.SetThreads(prevT) }()
	var paths []string
	for _, n := range []int{1, 4} {
		runtime.GOMAXPROCS(n)
		gemm.SetThreads(3)
		p := filepath.Join(dir, fmt.Sprintf("t%d.ckpt", n))
		_, err := Train(context.Background(), Config{
			Model: models.Spec{Name: "lenet5", Weights: ste.LSQ{Bits: 4}, Inputs: ste.LSQ{Bits: 4}},
			Train: train, Test: test, Epochs: 1, Batch: 128, MaxSteps: 6, Seed: 2, Workers: n, Out: p,
		})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if c, err := LoadCheckpoint(paths[0]); err != nil || c.Config.Threads != 3 {
		t.Errorf("checkpoint records %d GEMM threads (%v), want 3", c.Config.Threads, err)
	}
	a, b := ckptBits(t, paths[0]), ckptBits(t, paths[1])
	for name, va := range a {
		for i := range va {
			if va[i] != b[name][i] {
				t.Fatalf("%s[%d]: 1 thread %g, 4 threads %g", name, i, math.Float32frombits(va[i]), math.Float32frombits(b[name][i]))
			}
		}
	}
}
