package recipes

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// trainRanks runs cfg on n in-process ranks (dist.NewGroup) and returns rank 0's checkpoint.
func trainRanks(t *testing.T, cfg Config, n int) *Checkpoint {
	t.Helper()
	comms, err := dist.NewGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Comm = comms[r]
			_, errs[r] = Train(context.Background(), c)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	ck, err := LoadCheckpoint(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestDataParallelInProcess: 2 in-process ranks × 16 against 1 process × 32.
func TestDataParallelInProcess(t *testing.T) {
	train, test := mnist(t, 512, 200)
	dir := t.TempDir()
	for i, tc := range []struct {
		name    string
		w, in   ste.Quantizer
		syncBN  bool
		optim   string
	}{
		{"fp", nil, nil, true, "sgd"},
		{"lsq w", ste.LSQ{K: 4}, nil, true, "sgd"},
		{"lsq a", nil, ste.LSQ{K: 4}, true, "sgd"},
		{"lsq wa", ste.LSQ{K: 4}, ste.LSQ{K: 4}, true, "sgd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Model: models.Spec{Name: "lenet5", Weights: tc.w, Inputs: tc.in, Policy: models.FP}, Train: train, Test: test,
				Batch: 32, Epochs: 1, MaxSteps: 1, Optimizer: tc.optim, LR: 0.02, Workers: 1, SyncBN: tc.syncBN}
			cfg.Out = filepath.Join(dir, fmt.Sprintf("ref%d.ckpt", i))
			if _, err := Train(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			ref, err := LoadCheckpoint(cfg.Out)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Out = filepath.Join(dir, fmt.Sprintf("dist%d.ckpt", i))
			got := trainRanks(t, cfg, 2)
			for j, ti := range got.Tensors {
				var worst float64
				for k := range got.Data[j] {
					worst = max(worst, math.Abs(float64(got.Data[j][k]-ref.Data[j][k])))
				}
				t.Logf("%s %.3g", ti.Name, worst)
			}
		})
	}
}
