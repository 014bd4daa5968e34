package ptq

import (
	"math"
	"testing"
)

func TestClipOfHandComputed(t *testing.T) {
	ones9 := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 5}
	for _, tc := range []struct {
		name   string
		method Method
		x      []float32
		g      Grid
		pct    float64
		want   float32
	}{
		// max|x| whatever the sign.
		{"max", Max, []float32{-0.5, 0.25, -2, 1}, Grid{Bits: 8, Signed: true}, 0, 2},
		// |x| sorted 1..5: the 50th percentile is the middle one, the 90th lies 0.6 of the way from 4 to 5.
		{"percentile-50", Percentile, []float32{5, -1, 3, 2, -4}, Grid{Bits: 8}, 50, 3},
		{"percentile-90", Percentile, []float32{5, -1, 3, 2, -4}, Grid{Bits: 8}, 90, 4.6},
		// Q_P = 3, candidates c = 5j/100. For 2 < c < 6 the ones land on level 1 (value c/3)
		// and 5 on level 3 (value c): E(c) = 9(1 − c/3)² + (5 − c)², minimal at c = 4 (E = 2);
		// c = 5 gives 4, larger c rounds the ones to 0 (E ≥ 9).
		{"mse", MSE, ones9, Grid{Bits: 2}, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClipOf(tc.method, tc.x, tc.g, tc.pct)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(got-tc.want)) > 1e-6 {
				t.Errorf("clip %g, want %g", got, tc.want)
			}
		})
	}
}

// TestEntropyHandComputed: 1-bit unsigned (2 levels), 256 bins of width 0.5: ones in
// bins 0..127, 1 in bin 254 and 100 in bin 255. Candidates 129..254 put the tail into
// an empty bin (Q = 0 where P > 0: KL = ∞). i = 128: P = (1×127, 102)/229 against a flat
// Q: KL = 1.4783. i = 255: P = (1×128, 101)/229, Q flat over 129 bins: KL = 1.4616.
// i = 256: Q spreads bins 254/255 as 50.5 each: KL = 0.2812. So the clip is 256·0.5.
func TestEntropyHandComputed(t *testing.T) {
	h := make([]float64, 256)
	for i := range 128 {
		h[i] = 1
	}
	h[254], h[255] = 1, 100
	q := make([]float64, 256)
	for _, c := range []struct {
		i    int
		tail float64
		want float64
	}{{128, 101, 1.4783398}, {255, 100, 1.4615802}, {256, 0, 0.2812127}} {
		if got := klAt(h, c.i, c.tail, 2, q); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("KL at %d bins = %.7f, want %.7f", c.i, got, c.want)
		}
	}
	if got := klAt(h, 200, 101, 2, q); !math.IsInf(got, 1) {
		t.Errorf("KL at 200 bins = %g, want +Inf", got)
	}
	got, err := EntropyClip(h, 0.5, Grid{Bits: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got != 128 {
		t.Errorf("clip %g, want 128", got)
	}
}

// TestEntropyClipsOutliers: a bell-shaped histogram with a few far outliers is
// clipped well below its maximum at 8 bits, as TensorRT's calibration intends.
func TestEntropyClipsOutliers(t *testing.T) {
	h := make([]float64, HistBins)
	for i := range 400 {
		h[i] = 1e5 * math.Exp(-float64(i*i)/(2*100*100))
	}
	h[2047] = 3
	got, err := EntropyClip(h, 1, Grid{Bits: 8})
	if err != nil {
		t.Fatal(err)
	}
	if got < 128 || got > 600 {
		t.Errorf("clip %g, want within [128, 600] of a 2048 maximum", got)
	}
}

func TestEntropyBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     []float64
		width float64
	}{{"few bins", make([]float64, 10), 1}, {"empty", make([]float64, 256), 1}, {"zero width", make([]float64, 256), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EntropyClip(tc.h, tc.width, Grid{Bits: 8}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	for _, n := range methodNames {
		m, err := ParseMethod(n)
		if err != nil || m.String() != n {
			t.Errorf("%s: %v %v", n, m, err)
		}
	}
	if _, err := ParseMethod("kl"); err == nil {
		t.Error("kl parsed")
	}
}
