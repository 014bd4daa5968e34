package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// benchShape is one GEMM from the training and inference workloads.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes climbs a ladder of squares, then the LeNet-5 (batch 64) and
// ResNet-18 (batch 1, 224×224) layer GEMMs. Conv forward is
// im2col[N*OH*OW, KH*KW*Cin] × Wᵀ; the backward passes are its transposes.
var benchShapes = []benchShape{
	{name: "square64", m: 64, n: 64, k: 64},
	{name: "square256", m: 256, n: 256, k: 256},
	{name: "square1024", m: 1024, n: 1024, k: 1024},

	{name: "lenet_conv1_fwd", transB: true, m: 64 * 24 * 24, n: 20, k: 25},
	{name: "lenet_conv1_dW", transA: true, m: 20, n: 25, k: 64 * 24 * 24},
	{name: "lenet_conv1_dX", m: 64 * 24 * 24, n: 25, k: 20},
	{name: "lenet_conv2_fwd", transB: true, m: 64 * 8 * 8, n: 50, k: 500},
	{name: "lenet_conv2_dW", transA: true, m: 50, n: 500, k: 64 * 8 * 8},
	{name: "lenet_conv2_dX", m: 64 * 8 * 8, n: 500, k: 50},
	{name: "lenet_fc1_fwd", transB: true, m: 64, n: 500, k: 800},
	{name: "lenet_fc1_dW", transA: true, m: 500, n: 800, k: 64},
	{name: "lenet_fc1_dX", m: 64, n: 800, k: 500},

	{name: "resnet18_conv2", m: 64, n: 3136, k: 576},
	{name: "resnet18_conv3", m: 128, n: 784, k: 1152},
	{name: "resnet18_conv4", m: 256, n: 196, k: 2304},
	{name: "resnet18_conv5", m: 512, n: 49, k: 4608},
}

type benchImpl struct {
	name string
	run  func(s benchShape, a, b, c []float32, lda, ldb int)
}

func benchImpls() []benchImpl {
	sg := func(kern string) func(s benchShape, a, b, c []float32, lda, ldb int) {
		return func(s benchShape, a, b, c []float32, lda, ldb int) {
			restore, _ := setKernel(kern)
			defer restore()
			if err := Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n); err != nil {
				panic(err)
			}
		}
	}
	var impls []benchImpl // every kernel this CPU runs, best first
	for _, k := range kernels {
		impls = append(impls, benchImpl{name: k.name, run: sg(k.name)})
	}
	impls = append(impls, benchImpl{name: "gonum", run: func(s benchShape, a, b, c []float32, lda, ldb int) {
		ta, tb := blas.NoTrans, blas.NoTrans
		if s.transA {
			ta = blas.Trans
		}
		if s.transB {
			tb = blas.Trans
		}
		blas32.Implementation().Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n)
	}})
	if OpenBLAS != nil {
		impls = append(impls, benchImpl{name: "openblas", run: func(s benchShape, a, b, c []float32, lda, ldb int) {
			OpenBLAS(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n)
		}})
	}
	return impls
}

// BenchmarkSgemm interleaves every implementation within each b.Loop
// round, so they share the machine's noise, and reports each one's median
// GFLOPS and its ratio to gonum. ns/op is the sum over implementations.
// The generic and gonum kernels are slow: narrow runs with -bench=Sgemm/NAME.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", s.name, threads), func(b *testing.B) {
				benchShapeInterleaved(b, s, threads)
			})
		}
	}
}

func benchShapeInterleaved(b *testing.B, s benchShape, threads int) {
	prevT, prevP := Threads(), runtime.GOMAXPROCS(threads) // gonum uses GOMAXPROCS
	SetThreads(threads)
	defer func() { SetThreads(prevT); runtime.GOMAXPROCS(prevP) }()
	if openBLASThreads != nil {
		openBLASThreads(threads)
		defer openBLASThreads(1)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	a, bm, c := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
	impls := benchImpls()
	times := make([][]float64, len(impls))
	for _, im := range impls { // warm up pools and workers
		im.run(s, a, bm, c, lda, ldb)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, im := range impls {
			t0 := time.Now()
			im.run(s, a, bm, c, lda, ldb)
			times[i] = append(times[i], time.Since(t0).Seconds())
		}
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	gf := make(map[string]float64)
	for i, im := range impls {
		g := flops / median(times[i]) / 1e9
		gf[im.name] = g
		b.ReportMetric(g, im.name+"-GFLOPS")
	}
	b.ReportMetric(gf[impls[0].name]/gf["gonum"], impls[0].name+"/gonum")
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
