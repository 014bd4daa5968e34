package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/dist"
	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/internal/disttest"
	"github.com/lowbit/lowbit/recipes"
)

// openMNIST returns the first n training and m test examples of MNIST.
func openMNIST(t *testing.T, n, m int) (train, test datasets.Dataset) {
	t.Helper()
	cfg := recipes.Config{Dataset: "mnist"}
	tr, te, err := recipes.OpenData(&cfg)
	if errors.Is(err, datasets.ErrNotFound) {
		datatest.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return firstN{tr, n}, firstN{te, m}
}

type firstN struct {
	datasets.Dataset
	n int
}

func (f firstN) Len() int { return min(f.n, f.Dataset.Len()) }

// trainRanks runs cfg on n in-process ranks (dist.NewGroup) and returns rank 0's
// checkpoint and every rank's error.
func trainRanks(t *testing.T, cfg recipes.Config, n int) (*recipes.Checkpoint, []error) {
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
			defer comms[r].Close() // a rank that fails makes the others' collectives fail
			_, errs[r] = recipes.Train(context.Background(), c)
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		return nil, errs
	}
	ck, err := recipes.LoadCheckpoint(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	return ck, errs
}

// recipeConfig is a recipe on the MLP with SGD (see disttest for why).
func recipeConfig(t *testing.T, name string, train, test datasets.Dataset, out string) recipes.Config {
	t.Helper()
	r, err := recipes.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Config("mlp", "mnist")
	cfg.Train, cfg.Test, cfg.Out = train, test, out
	cfg.Batch, cfg.Epochs, cfg.MaxSteps, cfg.Workers = 64, 2, 3, 1
	cfg.Optimizer, cfg.LR, cfg.Opt.Momentum = "sgd", 0.01, 0.9
	return cfg
}

// TestDataParallelInProcess: 2 and 4 in-process ranks against one process at the
// same global batch, on the code paths MPI runs take (dist.NewGroup for the transport).
func TestDataParallelInProcess(t *testing.T) {
	train, test := openMNIST(t, 1024, 256)
	dir := t.TempDir()
	for i, tc := range []struct {
		recipe string
		ranks  int
		syncBN bool
		same   bool
	}{
		{"fp", 2, true, true},
		{"lsq-w4a4", 2, true, true},
		{"xnor", 4, true, true},
		{"dorefa-w1a2g6", 2, true, true},
		{"fp", 2, false, false}, // per-rank BatchNorm is not the one-process run
	} {
		t.Run(fmt.Sprintf("%s/%d ranks/sync %v", tc.recipe, tc.ranks, tc.syncBN), func(t *testing.T) {
			cfg := recipeConfig(t, tc.recipe, train, test, filepath.Join(dir, fmt.Sprintf("ref%d.ckpt", i)))
			cfg.SyncBN = tc.syncBN
			if _, err := recipes.Train(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			want, err := recipes.LoadCheckpoint(cfg.Out)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Out = filepath.Join(dir, fmt.Sprintf("dist%d.ckpt", i))
			got, errs := trainRanks(t, cfg, tc.ranks)
			for r, err := range errs {
				if err != nil {
					t.Fatalf("rank %d: %v", r, err)
				}
			}
			diffs, worst, err := disttest.Compare(got, want)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("largest rms difference: %.3g× the tolerance", worst)
			if tc.same && len(diffs) > 0 {
				t.Errorf("%d ranks differ from one process:\n%s", tc.ranks, strings.Join(diffs, "\n"))
			}
			if !tc.same && len(diffs) == 0 {
				t.Error("per-rank BatchNorm matched the one-process run: the comparison cannot tell")
			}
		})
	}
}

// TestDataParallelFailures: errors every rank must report together.
func TestDataParallelFailures(t *testing.T) {
	train, test := openMNIST(t, 512, 128)
	dir := t.TempDir()
	t.Run("non-finite loss", func(t *testing.T) {
		cfg := recipeConfig(t, "fp", train, test, filepath.Join(dir, "nan.ckpt"))
		cfg.MaxSteps, cfg.LR = 6, 1e30
		_, errs := trainRanks(t, cfg, 2)
		for r, err := range errs {
			if !errors.Is(err, recipes.ErrNonFinite) {
				t.Errorf("rank %d: %v, want ErrNonFinite", r, err)
			}
		}
		if errs[0] != nil && errs[1] != nil && errs[0].Error() != errs[1].Error() {
			t.Errorf("ranks report different errors:\n%v\n%v", errs[0], errs[1])
		}
	})
	t.Run("batch does not split", func(t *testing.T) {
		cfg := recipeConfig(t, "fp", train, test, filepath.Join(dir, "split.ckpt"))
		cfg.Batch = 63
		_, errs := trainRanks(t, cfg, 2)
		for r, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "does not split") {
				t.Errorf("rank %d: %v, want a batch split error", r, err)
			}
		}
	})
	t.Run("mismatched configuration", func(t *testing.T) {
		comms, err := dist.NewGroup(2)
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := recipeConfig(t, "fp", train, test, filepath.Join(dir, fmt.Sprintf("mis%d.ckpt", r)))
				cfg.LR = 0.01 * float32(r+1)
				cfg.Comm = comms[r]
				defer comms[r].Close()
				_, errs[r] = recipes.Train(context.Background(), cfg)
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if !errors.Is(err, dist.ErrMismatch) {
				t.Errorf("rank %d: %v, want dist.ErrMismatch", r, err)
			}
		}
	})
}
