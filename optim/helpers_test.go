package optim

import (
	"math"
	"testing"
)

// close32 reports whether got is within a relative tolerance of want.
func close32(got float32, want float64, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*math.Max(1, math.Abs(want))
}

func checkClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !close32(got[i], want[i], tol) {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

func f32p(x float32) *float32 { return &x }

func clone32(x []float32) []float32 { return append([]float32(nil), x...) }
