package datasets

import (
	"strings"
	"testing"
)

// TestHowToGetNamesData: a dataset that is not found tells how to pass it
// (a copied binary has no module cache to find MNIST in).
func TestHowToGetNamesData(t *testing.T) {
	for _, name := range []string{"mnist", "fashion-mnist", "cifar10", "imagenette", "imagefolder"} {
		if h := howToGet(name); !strings.Contains(h, "-data DIR") || !strings.Contains(h, "LOWBIT_DATA") {
			t.Errorf("%s: %q does not say how to pass -data or LOWBIT_DATA", name, h)
		}
	}
}
