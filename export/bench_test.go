package export_test

import (
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// benchModel builds the recipe's LeNet-5 with its initial weights (the
// speed does not depend on training), runs one eval batch so that
// data-initialised steps (LSQ) are set, and freezes it.
func benchModel(b *testing.B, recipe string, x []float32, y []int32, n int) (*models.Model, *bitpack.Model) {
	b.Helper()
	return benchNet(b, recipe, "lenet5", "mnist", x, y, n)
}

// benchNet is benchModel for any model and dataset.
func benchNet(b *testing.B, recipe, model, dataset string, x []float32, y []int32, n int) (*models.Model, *bitpack.Model) {
	b.Helper()
	r, err := recipes.Lookup(recipe)
	if err != nil {
		b.Fatal(err)
	}
	m, err := models.New(r.Config(model, dataset).Model)
	if err != nil {
		b.Fatal(err)
	}
	net, err := recipes.NewNet(m, n, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := net.Run(x, y, n); err != nil {
		b.Fatal(err)
	}
	net.Close()
	bm, err := export.Freeze(m)
	if err != nil {
		b.Fatal(err)
	}
	return m, bm
}

// BenchmarkEngine times the exported LeNet-5 against the same network's
// training-graph eval forward, on one image and on a batch of 64, for each
// kernel family. images/s is the metric to compare.
func BenchmarkEngine(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	const maxBatch = 64
	x := make([]float32, maxBatch*28*28)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, maxBatch)
	for _, recipe := range []string{"fp", "xnor", "bnn", "dorefa-w1a2", "lsq-w4a4"} {
		m, bm := benchModel(b, recipe, x, y, maxBatch)
		for _, n := range []int{1, maxBatch} {
			xs, ys := x[:n*28*28], y[:n]
			b.Run(recipe+"/engine/batch="+itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := bm.Predict(xs, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
			b.Run(recipe+"/graph/batch="+itoa(n), func(b *testing.B) {
				net, err := recipes.NewNet(m, n, false, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer net.Close()
				b.ReportAllocs()
				for b.Loop() {
					if err := net.Run(xs, ys, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkEngineImageNet times the exported ResNet-18 and Bi-Real-18
// (xnor recipe, initial weights, 224 px) at batch 1 on the packed engine;
// run it with GOMAXPROCS=1 and 2 to see the thread scaling. ms/image is
// the metric to compare.
func BenchmarkEngineImageNet(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 224*224*3)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, 1)
	for _, model := range []string{"resnet18", "birealnet18"} {
		_, bm := benchNet(b, "xnor", model, "imagenette", x, y, 1)
		b.Run(model+"/xnor/batch=1", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.Predict(x, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/image")
		})
	}
}
