package recipes

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// BenchmarkTrainStep times one LeNet-5 training step (forward, backward) at batch 64
// on random inputs, and reports allocated bytes per step.
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		name  string
		w, in ste.Quantizer
	}{
		{"fp", nil, nil},
		{"lsq-w4a4", ste.LSQ{Bits: 4}, ste.LSQ{Bits: 4}},
		{"xnor", ste.XNOR{}, ste.Sign{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := models.New(models.Spec{Name: "lenet5", Weights: tc.w, Inputs: tc.in, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			var step uint64
			n, err := NewNet(m, 64, true, &step)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, 64*28*28)
			y := make([]int32, 64)
			for i := range x {
				x[i] = rng.Float32()
			}
			for i := range y {
				y[i] = int32(rng.IntN(10))
			}
			n.Run(x, y, 64)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ReportAllocs()
			for b.Loop() {
				if err := n.Run(x, y, 64); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/1e6, "MB/step")
		})
	}
}
