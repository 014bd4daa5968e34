package recipes

import (
	"errors"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/datatest"
)

// subset keeps the first n examples of a dataset.
type subset struct {
	datasets.Dataset
	n int
}

func (s subset) Len() int { return min(s.n, s.Dataset.Len()) }

// mnist opens real MNIST (the GoMNIST module files), cut to n train and m test examples
// (0 keeps all). It skips, or fails under LOWBIT_REQUIRE_DATA=1, when MNIST is absent.
func mnist(t testing.TB, n, m int) (train, test datasets.Dataset) {
	t.Helper()
	tr, err := datasets.Open("mnist", "train", "", datasets.Options{})
	if errors.Is(err, datasets.ErrNotFound) {
		datatest.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	te, err := datasets.Open("mnist", "test", "", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		tr = subset{tr, n}
	}
	if m > 0 {
		te = subset{te, m}
	}
	return tr, te
}
