package bench

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkTrainStep times one training step of the configurations
// `lowbit bench train` reports, in this process, for profiling:
//
//	go test -run '^$' -bench 'TrainStep/resnet20/lsq-w4a4' -cpuprofile cpu.out ./bench
//
// LOWBIT_BENCH_CONFIGS=model/recipe,... picks others.
func BenchmarkTrainStep(b *testing.B) {
	configs := []string{"lenet5/fp", "lenet5/lsq-w4a4", "lenet5/xnor", "resnet20/fp", "resnet20/lsq-w4a4", "resnet20/xnor"}
	if v := os.Getenv("LOWBIT_BENCH_CONFIGS"); v != "" {
		configs = strings.Split(v, ",")
	}
	for _, c := range configs {
		model, recipe, ok := strings.Cut(c, "/")
		if !ok {
			b.Fatalf("LOWBIT_BENCH_CONFIGS entry %q is not model/recipe", c)
		}
		b.Run(c, func(b *testing.B) {
			s, err := newTrainStep(TrainWorker{Model: model, Recipe: recipe, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.run(); err != nil { // warm-up: buffers, LSQ init
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
