package layers_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/layers"
)

// naiveBN normalises x [m][c] per channel with the given statistics (float64).
func naiveBN(x []float32, c int, mean, variance []float64, gamma, beta []float32, eps float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		j := i % c
		g := 1.0
		if gamma != nil {
			g = float64(gamma[j])
		}
		y[i] = g*(float64(v)-mean[j])/math.Sqrt(variance[j]+eps) + float64(beta[j])
	}
	return y
}

// batchStats returns the per-channel mean and biased and unbiased variances.
func batchStats(x []float32, c int) (mean, biased, unbiased []float64) {
	m := len(x) / c
	mean, biased, unbiased = make([]float64, c), make([]float64, c), make([]float64, c)
	for i, v := range x {
		mean[i%c] += float64(v) / float64(m)
	}
	for i, v := range x {
		d := float64(v) - mean[i%c]
		biased[i%c] += d * d / float64(m)
		unbiased[i%c] += d * d / float64(m-1)
	}
	return mean, biased, unbiased
}

func newBN(t *testing.T, cfg layers.BatchNormConfig, rng *rand.Rand) *layers.BatchNorm {
	t.Helper()
	bn, err := layers.NewBatchNorm("bn", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bn.Gamma != nil {
		copy(bn.Gamma.Data(), randSlice(rng, cfg.C, 0.5, 2))
	}
	copy(bn.Beta.Data(), randSlice(rng, cfg.C, -1, 1))
	return bn
}

var bnShapes = []struct {
	name    string
	shape   []int
	noScale bool
}{
	{"dense", []int{6, 3}, false},
	{"NHWC", []int{2, 2, 3, 3}, false},
	{"no scale", []int{5, 4}, true},
	{"batch 2", []int{2, 2}, false},
}

func TestBatchNormTrainForward(t *testing.T) {
	shapes := append(slices.Clone(bnShapes), struct {
		name    string
		shape   []int
		noScale bool
	}{"large", []int{64, 8, 8, 16}, false}) // large enough for the parallel paths
	for _, tc := range shapes {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			c := tc.shape[len(tc.shape)-1]
			bn := newBN(t, layers.BatchNormConfig{C: c, NoScale: tc.noScale}, rng)
			g := layers.NewGraph(true, nil)
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			// An offset far from zero checks the variance for cancellation.
			x := inputVar(g, "x", tc.shape, randSlice(rng, n, 99, 101))
			y, err := bn.Forward(g, x.node)
			if err != nil {
				t.Fatal(err)
			}
			mean, biased, _ := batchStats(x.data, c)
			var gamma []float32
			if bn.Gamma != nil {
				gamma = bn.Gamma.Data()
			}
			assertClose(t, "y", run(t, g, y)[0], naiveBN(x.data, c, mean, biased, gamma, bn.Beta.Data(), 1e-5), 1e-3)
		})
	}
}

func TestBatchNormGrad(t *testing.T) {
	for _, train := range []bool{true, false} {
		for _, tc := range bnShapes {
			mode := "eval"
			if train {
				mode = "train"
			}
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(23, 24))
				c := tc.shape[len(tc.shape)-1]
				bn := newBN(t, layers.BatchNormConfig{C: c, NoScale: tc.noScale}, rng)
				copy(bn.RunMean, randSlice(rng, c, -0.5, 0.5))
				copy(bn.RunVar, randSlice(rng, c, 0.5, 2))
				g := layers.NewGraph(train, nil)
				n := 1
				for _, d := range tc.shape {
					n *= d
				}
				x := inputVar(g, "x", tc.shape, randSlice(rng, n, -2, 2))
				y, err := bn.Forward(g, x.node)
				if err != nil {
					t.Fatal(err)
				}
				vars := []variable{x}
				if bn.Gamma != nil {
					vars = append(vars, paramVar(g, bn.Gamma))
				}
				vars = append(vars, paramVar(g, bn.Beta))
				checkGrads(t, g, dotLoss(t, y, rng), vars...)
			})
		}
	}
}

// TestBatchNormLargeGrad compares the train-mode gradients on a map large
// enough for the parallel paths with the closed forms in float64:
//
//	dx = γ·s/M·(M·g − Σg − x̂·Σ(g·x̂)),  dγ = Σ g·x̂,  dβ = Σ g.
func TestBatchNormLargeGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	shape := []int{32, 8, 8, 16}
	c, n := 16, 32*8*8*16
	bn := newBN(t, layers.BatchNormConfig{C: c}, rng)
	g := layers.NewGraph(true, nil)
	x := inputVar(g, "x", shape, randSlice(rng, n, -3, 5))
	y, err := bn.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	cg := randSlice(rng, n, -1, 1)
	loss, err := dotLossWith(y, cg)
	if err != nil {
		t.Fatal(err)
	}
	_, grads := runGrads(t, g, loss, []variable{x, paramVar(g, bn.Gamma), paramVar(g, bn.Beta)})
	mean, biased, _ := batchStats(x.data, c)
	m := float64(n / c)
	sumG, sumGX := make([]float64, c), make([]float64, c)
	xhat := make([]float64, n)
	for i, v := range x.data {
		j := i % c
		xhat[i] = (float64(v) - mean[j]) / math.Sqrt(biased[j]+1e-5)
		sumG[j] += float64(cg[i])
		sumGX[j] += float64(cg[i]) * xhat[i]
	}
	dx := make([]float64, n)
	for i := range dx {
		j := i % c
		s := float64(bn.Gamma.Data()[j]) / math.Sqrt(biased[j]+1e-5)
		dx[i] = s / m * (m*float64(cg[i]) - sumG[j] - xhat[i]*sumGX[j])
	}
	assertClose(t, "∂L/∂x", grads[0], dx, 1e-3)
	assertClose(t, "∂L/∂γ", grads[1], sumGX, 1e-3)
	assertClose(t, "∂L/∂β", grads[2], sumG, 1e-3)
}

func TestBatchNormRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	const c = 3
	bn := newBN(t, layers.BatchNormConfig{C: c}, rng)
	if !slices.Equal(bn.RunMean, []float32{0, 0, 0}) || !slices.Equal(bn.RunVar, []float32{1, 1, 1}) {
		t.Fatalf("initial running stats %v, %v; want 0 and 1", bn.RunMean, bn.RunVar)
	}
	if cfg := bn.Config(); cfg.Momentum != 0.1 || cfg.Eps != 1e-5 {
		t.Errorf("defaults: momentum %g, eps %g", cfg.Momentum, cfg.Eps)
	}
	train := layers.NewGraph(true, nil)
	x := inputVar(train, "x", []int{4, 2, c}, randSlice(rng, 8*c, -2, 3))
	y, err := bn.Forward(train, x.node)
	if err != nil {
		t.Fatal(err)
	}
	eval := layers.NewGraph(false, nil)
	xe := inputVar(eval, "x", []int{5, c}, randSlice(rng, 5*c, -2, 2))
	ye, err := bn.Forward(eval, xe.node)
	if err != nil {
		t.Fatal(err)
	}
	vmTrain := gorgonia.NewTapeMachine(train.G)
	defer vmTrain.Close()
	vmEval := gorgonia.NewTapeMachine(eval.G)
	defer vmEval.Close()

	wantMean, wantVar := []float64{0, 0, 0}, []float64{1, 1, 1}
	for step := 0; step < 3; step++ {
		copy(x.data, randSlice(rng, len(x.data), -2, 3))
		vmTrain.Reset()
		if err := vmTrain.RunAll(); err != nil {
			t.Fatal(err)
		}
		// running ← 0.9·running + 0.1·batch, with the unbiased batch variance.
		mean, _, unbiased := batchStats(x.data, c)
		for j := 0; j < c; j++ {
			wantMean[j] = 0.9*wantMean[j] + 0.1*mean[j]
			wantVar[j] = 0.9*wantVar[j] + 0.1*unbiased[j]
		}
		assertClose(t, "running mean", bn.RunMean, wantMean, 1e-5)
		assertClose(t, "running var", bn.RunVar, wantVar, 1e-5)

		// The eval graph normalises with the running statistics.
		vmEval.Reset()
		if err := vmEval.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := ye.Value().Data().([]float32)
		assertClose(t, "eval y", got, naiveBN(xe.data, c, wantMean, wantVar, bn.Gamma.Data(), bn.Beta.Data(), 1e-5), 1e-5)
	}
	// Eval runs leave the statistics alone.
	before := slices.Clone(bn.RunMean)
	vmEval.Reset()
	if err := vmEval.RunAll(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, bn.RunMean) {
		t.Errorf("eval run changed the running mean: %v → %v", before, bn.RunMean)
	}
	_ = y
	states := bn.States()
	if len(states) != 2 || !strings.HasSuffix(states[0].Name, "running_mean") || &states[0].Data[0] != &bn.RunMean[0] {
		t.Errorf("States() = %+v", states)
	}
}

func TestBatchNormErrors(t *testing.T) {
	if _, err := layers.NewBatchNorm("bn", layers.BatchNormConfig{C: 0}); !errors.Is(err, layers.ErrShape) {
		t.Errorf("C=0: error %v, want ErrShape", err)
	}
	bn, err := layers.NewBatchNorm("bn", layers.BatchNormConfig{C: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{4, 2}, {2, 2, 2, 4}} {
		if _, err := bn.OutShape(shape[1:]); !errors.Is(err, layers.ErrShape) {
			t.Errorf("OutShape(%v) error %v, want ErrShape", shape[1:], err)
		}
		g := layers.NewGraph(true, nil)
		x, _ := g.Input("x", shape...)
		if _, err := bn.Forward(g, x); !errors.Is(err, layers.ErrShape) {
			t.Errorf("Forward on %v: error %v, want ErrShape", shape, err)
		}
	}
	// One value per channel has no batch variance: an error from the run, not a panic.
	g := layers.NewGraph(true, nil)
	x, _ := g.Input("x", 1, 3)
	if _, err := bn.Forward(g, x); err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g.G)
	defer vm.Close()
	if err := vm.RunAll(); err == nil {
		t.Error("train run on a batch of one: no error")
	}
}
