package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/recipes"
)

func TestRenderBar(t *testing.T) {
	mid := barState{epoch: 1, epochs: 3, step: 469, of: 938, rate: 45.2, eta: 10*time.Second + 400*time.Millisecond, loss: 0.1234, acc: 96.1}
	end := mid
	end.step, end.elapsed = 938, 21*time.Second
	tail := []string{"test_loss 0.0500", "test_acc 98.40%"}
	for _, tc := range []struct {
		name  string
		cols  int
		b     barState
		tail  []string
		want  []string
		avoid []string
	}{
		{"80 mid-epoch", 80, mid, nil, []string{"epoch 1/3 [", "469/938", "45.2 steps/s", "ETA 0:10", "loss 0.1234", "acc 96.10%"}, nil},
		{"80 epoch end", 80, end, tail, []string{"epoch 1/3 [", "test_acc 98.40%", "0:21"}, []string{"ETA"}},
		{"40 mid-epoch", 40, mid, nil, []string{"epoch 1/3 [", "ETA 0:10"}, []string{"steps/s"}},
		{"40 epoch end", 40, end, tail, []string{"epoch 1/3", "test_acc 98.40%"}, nil},
		{"200 columns: bar at most 30", 200, mid, nil, []string{"[" + strings.Repeat("=", 15) + strings.Repeat(" ", 15) + "]"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderBar(tc.cols, tc.b, tc.tail...)
			if n := len([]rune(got)); n > tc.cols-1 {
				t.Errorf("%q is %d columns, want ≤ %d", got, n, tc.cols-1)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(got, a) {
					t.Errorf("%q has %q", got, a)
				}
			}
		})
	}
}

// TestReporterJSON checks one unit (percent) and one type (number) in JSON logs.
func TestReporterJSON(t *testing.T) {
	var buf bytes.Buffer
	rep, err := newReporter("json")
	if err != nil {
		t.Fatal(err)
	}
	rep.log.SetOutput(&buf)
	rep.every, rep.epochs = 1, 2
	rep.step(recipes.StepStats{Epoch: 1, Step: 1, StepsPerEpoch: 2, Loss: 0.5, Acc: 0.75})
	rep.epoch(recipes.EpochStats{Epoch: 1, Epochs: 2, TrainAcc: 0.8, TestAcc: 0.9})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a step and an epoch line, got %q", buf.String())
	}
	for i, want := range []map[string]float64{{"epoch": 1, "epochs": 2, "acc": 75}, {"epoch": 1, "epochs": 2, "train_acc": 80, "test_acc": 90}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got, ok := m[k].(float64); !ok || got != v {
				t.Errorf("line %d: %s = %#v, want the number %v", i, k, m[k], v)
			}
		}
	}
}

// TestBenchAccuracyEpochJSON: bench accuracy's epoch lines carry the epoch as a number too.
func TestBenchAccuracyEpochJSON(t *testing.T) {
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetFormatter(&logrus.JSONFormatter{})
	var cfg bench.AccuracyConfig
	logAccuracy(&cfg, log)
	cfg.OnEpoch(bench.Cell{Recipe: "fp", Dataset: "mnist"}, recipes.EpochStats{Epoch: 2, Epochs: 3, TestAcc: 0.99})
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["epoch"] != 2.0 || m["epochs"] != 3.0 || m["test_acc"] != 99.0 {
		t.Errorf("epoch line %v: want epoch 2, epochs 3, test_acc 99 as numbers", m)
	}
}
