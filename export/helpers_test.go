package export_test

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/internal/evaltest"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// equivSteps is the number of training steps of each equivalence model:
// enough for the weights, BN statistics and learned steps to leave their
// initial values, short enough for the whole file to run in under a
// minute. LOWBIT_NOASM=1 also turns off internal/gemm's assembly, which
// makes training several times slower; that run (whose point is the
// engine's portable kernels) trains fewer steps.
func equivSteps() int {
	if os.Getenv("LOWBIT_NOASM") == "1" {
		return 30
	}
	return 120
}

// equivImages is how many test images the equivalence compares: all of
// them, except under LOWBIT_NOASM=1 where the portable sgemm makes the
// graph forward pass the bottleneck (the portable packed kernels are
// compared bit for bit against the assembly ones in package bitpack).
func equivImages(n int) int {
	if os.Getenv("LOWBIT_NOASM") == "1" {
		return min(n, 2000)
	}
	return n
}

type mnistSet struct {
	once        sync.Once
	train, test datasets.Dataset
	x           []float32 // the full test set, NHWC
	y           []int32
	err         error
}

var mnistSets sync.Map // datasets.Scaling → *mnistSet

// mnist opens MNIST with the given scaling and loads the test split into
// memory, skipping the test (or failing under LOWBIT_REQUIRE_DATA=1) when
// the data is absent.
func mnist(t testing.TB, s datasets.Scaling) *mnistSet {
	t.Helper()
	v, _ := mnistSets.LoadOrStore(s, &mnistSet{})
	m := v.(*mnistSet)
	m.once.Do(func() {
		opts := datasets.Options{Scaling: s}
		if m.train, m.err = datasets.Open("mnist", "train", "", opts); m.err != nil {
			return
		}
		if m.test, m.err = datasets.Open("mnist", "test", "", opts); m.err != nil {
			return
		}
		h, w, c := m.test.Shape()
		per := h * w * c
		n := m.test.Len()
		m.x, m.y = make([]float32, n*per), make([]int32, n)
		for i := 0; i < n; i++ {
			lab, err := m.test.Example(i, m.x[i*per:(i+1)*per], nil)
			if err != nil {
				m.err = err
				return
			}
			m.y[i] = int32(lab)
		}
	})
	if errors.Is(m.err, datasets.ErrNotFound) {
		datatest.Missing(t, "MNIST: %v", m.err)
	}
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m
}

// trained trains LeNet-5 on MNIST with the recipe for equivSteps steps,
// once per test binary.
func trained(t testing.TB, recipe string) (*models.Model, *mnistSet) {
	t.Helper()
	r, err := recipes.Lookup(recipe)
	if err != nil {
		t.Fatal(err)
	}
	data := mnist(t, r.Scaling)
	cfg := r.Config("lenet5", "mnist")
	cfg.MaxSteps, cfg.Seed, cfg.EvalLimit = equivSteps(), 1, 500
	cfg.Train, cfg.Test = data.train, data.test
	m, _ := evaltest.Trained(t, recipe, cfg)
	return m, data
}

// graphLogits runs the training graph's eval forward over the whole set.
func graphLogits(t testing.TB, m *models.Model, x []float32, y []int32) []float32 {
	t.Helper()
	return evaltest.GraphLogits(t, m, x, y, 500)
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}
