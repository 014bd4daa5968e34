// Package evaltest holds test helpers shared by the packages that check a
// trained model against the training graph (export, export/onnx).
package evaltest

import (
	"context"
	"sync"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// GraphLogits runs the training graph's eval forward of m over the examples
// x (len(y) samples, flattened) in batches of at most batch, and returns the
// logits, len(y)·classes values in example order.
func GraphLogits(t testing.TB, m *models.Model, x []float32, y []int32, batch int) []float32 {
	t.Helper()
	batch = min(batch, len(y))
	per := len(x) / len(y)
	net, err := recipes.NewNet(m, batch, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	classes := m.Spec.Classes
	out := make([]float32, 0, len(y)*classes)
	for i := 0; i < len(y); i += batch {
		n := min(batch, len(y)-i)
		if err := net.Run(x[i*per:(i+n)*per], y[i:i+n], n); err != nil {
			t.Fatal(err)
		}
		out = append(out, net.Logits()[:n*classes]...)
	}
	return out
}

type trainedModel struct {
	once sync.Once
	m    *models.Model
	acc  float64
	err  error
}

var trainedModels sync.Map // key → *trainedModel

// Trained runs recipes.Train with cfg once per test binary and key (the
// first caller's cfg trains; later callers with the same key get its model)
// and returns the trained model and its test accuracy.
func Trained(t testing.TB, key string, cfg recipes.Config) (*models.Model, float64) {
	t.Helper()
	v, _ := trainedModels.LoadOrStore(key, &trainedModel{})
	tm := v.(*trainedModel)
	tm.once.Do(func() {
		res, err := recipes.Train(context.Background(), cfg)
		if err != nil {
			tm.err = err
			return
		}
		tm.m, tm.acc = res.Model, res.TestAcc
	})
	if tm.err != nil {
		t.Fatalf("training %s: %v", key, tm.err)
	}
	return tm.m, tm.acc
}
