package datasets

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/datatest"
)

// BenchmarkLoaderImagenette measures the loader on the shared Imagenette
// train subset (224×224 JPEGs) with the ImageNetTrain(224) transforms, in
// batches of 32. Each round reads 8 batches of a fresh epoch at 1 and then 2
// workers (interleaved, as the machines are shared and noisy); it reports
// the median images/s of each and their ratio.
func BenchmarkLoaderImagenette(b *testing.B) {
	root := datatest.SharedData(b, "imagenette")
	ds, err := Open("imagenette", "train", root, Options{})
	if err != nil {
		b.Fatal(err)
	}
	workers := []int{1, 2}
	loaders := make([]*Loader, len(workers))
	for i, w := range workers {
		if loaders[i], err = NewLoader(ds, LoaderConfig{Batch: 32, Shuffle: true, Seed: 1, Workers: w}); err != nil {
			b.Fatal(err)
		}
	}
	const batches = 8
	rates := make([][]float64, len(workers))
	var batch Batch
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		for i, l := range loaders {
			start := time.Now()
			it := l.Epoch(round)
			images := 0
			for k := 0; k < batches && it.Next(&batch); k++ {
				images += batch.N
			}
			it.Close()
			if it.Err() != nil {
				b.Fatal(it.Err())
			}
			rates[i] = append(rates[i], float64(images)/time.Since(start).Seconds())
		}
		round++
	}
	med := make([]float64, len(workers))
	for i, w := range workers {
		med[i] = median(rates[i])
		b.ReportMetric(med[i], fmt.Sprintf("images/s@%dw", w))
	}
	b.ReportMetric(med[1]/med[0], "speedup2w")
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// BenchmarkLoaderCIFAR is the same on the in-memory CIFAR binary sample
// with CIFARTrain: the loader's own overhead.
func BenchmarkLoaderCIFAR(b *testing.B) {
	ds, err := Open("cifar10", "train", "testdata/cifar10-bin", Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderConfig{Batch: 12, Shuffle: true, Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	var batch Batch
	images, epoch := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		it := l.Epoch(epoch)
		for it.Next(&batch) {
			images += batch.N
		}
		epoch++
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}
