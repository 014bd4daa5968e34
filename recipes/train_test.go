package recipes

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// TestTrainLearnsMNIST trains LeNet-5 for 300 steps on real MNIST and checks that
// test accuracy rises far above chance (10%).
func TestTrainLearnsMNIST(t *testing.T) {
	train, test := mnist(t, 0, 2000)
	for _, tc := range []struct {
		name      string
		w, in     ste.Quantizer
		wantAbove float64
	}{
		{"fp", nil, nil, 0.95},
		{"lsq-w4a4", ste.LSQ{Bits: 4}, ste.LSQ{Bits: 4}, 0.93},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first float32
			res, err := Train(context.Background(), Config{
				Model: models.Spec{Name: "lenet5", Weights: tc.w, Inputs: tc.in}, Train: train, Test: test,
				Epochs: 1, MaxSteps: 300, Seed: 3,
				OnStep: func(s StepStats) {
					if s.Global == 1 {
						first = s.Loss
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: first loss %.3f, test acc %.4f after %d steps (%.1f ms/step)", tc.name, first, res.TestAcc, res.Steps, float64(res.StepTime.Microseconds())/1e3)
			if res.Steps != 300 {
				t.Errorf("ran %d steps, want 300", res.Steps)
			}
			if res.TestAcc < tc.wantAbove {
				t.Errorf("test accuracy %.4f, want > %.2f", res.TestAcc, tc.wantAbove)
			}
		})
	}
}

// runWeights returns a bit-exact copy of every parameter and state of the checkpoint at path.
func ckptBits(t *testing.T, path string) map[string][]uint32 {
	t.Helper()
	c, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint32{}
	for i, ti := range c.Tensors {
		b := make([]uint32, len(c.Data[i]))
		for j, v := range c.Data[i] {
			b[j] = math.Float32bits(v)
		}
		out[ti.Name] = b
	}
	return out
}

// TestResumeBitExact trains 2 epochs straight, and 1 epoch + resume + 1 epoch,
// and compares every weight, BN statistic and quantizer step bit for bit.
func TestResumeBitExact(t *testing.T) {
	train, test := mnist(t, 1024, 256)
	dir := t.TempDir()
	base := Config{
		Model: models.Spec{Name: "mlp", Hidden: []int{48, 32}, Dropout: 0.1, Weights: ste.LSQ{Bits: 3}, Inputs: ste.LSQ{Bits: 3}, Grads: ste.DoReFaGrad{Bits: 6}},
		Train: train, Test: test, Epochs: 2, Batch: 32, Seed: 11, Workers: 3,
	}
	straight := base
	straight.Out = filepath.Join(dir, "straight.ckpt")
	if _, err := Train(context.Background(), straight); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	first := base
	first.Out = filepath.Join(dir, "resumed.ckpt")
	first.Workers = 1
	first.OnEpoch = func(EpochStats) { cancel() }
	if _, err := Train(ctx, first); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	c, err := LoadCheckpoint(first.Out)
	if err != nil || c.Epoch != 1 {
		t.Fatalf("checkpoint after the interruption: epoch %v, %v", c, err)
	}
	second := base
	second.Model = models.Spec{} // the checkpoint supplies it
	second.Resume, second.Out = first.Out, first.Out
	res, err := Train(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 {
		t.Fatalf("resumed run ended at epoch %d", res.Epochs)
	}
	a, b := ckptBits(t, straight.Out), ckptBits(t, second.Out)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	for name, va := range a {
		vb := b[name]
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("%s[%d]: straight %g, resumed %g", name, i, math.Float32frombits(va[i]), math.Float32frombits(vb[i]))
			}
		}
	}
	if _, ok := a["dense6.wq.step"]; !ok {
		t.Errorf("checkpoint lacks the LSQ step; tensors: %v", keys(a))
	}
	if _, ok := a["dense6.gq.calls"]; !ok {
		t.Errorf("checkpoint lacks the gradient-noise counter; tensors: %v", keys(a))
	}
	if _, ok := a["bn3.running_mean"]; !ok {
		t.Errorf("checkpoint lacks BN running stats; tensors: %v", keys(a))
	}
}

func keys(m map[string][]uint32) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestNonFiniteLossStops resumes with an absurd learning rate: training must stop with
// ErrNonFinite naming the last good checkpoint, and that checkpoint must still load.
func TestNonFiniteLossStops(t *testing.T) {
	train, test := mnist(t, 512, 128)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	cfg := Config{Model: models.Spec{Name: "mlp", Hidden: []int{16}}, Train: train, Test: test, Epochs: 1, Batch: 32, Out: path}
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// A resume keeps the checkpoint's settings, so plant the absurd LR there.
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	ck.Config.Epochs, ck.Config.LR, ck.Config.Schedule = 3, 1e38, string(Constant)
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	cfg.Resume, cfg.Epochs, cfg.Model = path, 0, models.Spec{}
	_, err = Train(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "non-finite") && !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err = %v, want a non-finite loss error", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the last good checkpoint", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("the last good checkpoint was overwritten")
	}
	if c, err := LoadCheckpoint(path); err != nil || c.Epoch != 1 {
		t.Errorf("last good checkpoint: %v, %v", c, err)
	}
}
