package classify_test

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"reflect"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
)

func TestTopK(t *testing.T) {
	cases := []struct {
		name    string
		logits  []float32
		k       int
		names   []string
		classes []int
		label0  string
	}{
		{"order", []float32{1, 3, 2}, 2, nil, []int{1, 2}, "class 1"},
		{"ties keep class order", []float32{2, 2, 1}, 3, []string{"a", "b", "c"}, []int{0, 1, 2}, "class 0 (a)"},
		{"k over classes", []float32{0, 1}, 5, nil, []int{1, 0}, "class 1"},
		{"k below 1 gives 1", []float32{0, 1}, 0, nil, []int{1}, "class 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := classify.TopK(tc.logits, tc.k, tc.names)
			var cl []int
			var sum float64
			for _, l := range got {
				cl = append(cl, l.Class)
				sum += l.Prob
			}
			if !reflect.DeepEqual(cl, tc.classes) || got[0].String() != tc.label0 {
				t.Fatalf("TopK = %v, want classes %v, first %q", got, tc.classes, tc.label0)
			}
			if len(got) == len(tc.logits) && math.Abs(sum-1) > 1e-12 {
				t.Fatalf("probabilities sum to %g", sum)
			}
		})
	}
}

// model is an untrained FP LeNet-5 frozen with info's metadata.
func model(t *testing.T, info bitpack.ModelInfo) *bitpack.Model {
	t.Helper()
	m, err := models.New(models.Spec{Name: "lenet5", Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := export.FreezeWith(m, info)
	if err != nil {
		t.Fatal(err)
	}
	return bm
}

func TestNewRefusesModelsWithoutNormalisation(t *testing.T) {
	names := datasets.ClassNames("mnist")
	cases := []struct {
		name string
		info bitpack.ModelInfo
		err  error
	}{
		{"old file without mean/std", bitpack.ModelInfo{ClassNames: names}, classify.ErrNoNormalisation},
		{"raw input", bitpack.ModelInfo{RawInput: true, ClassNames: names}, classify.ErrNoNormalisation},
		{"normalised, no names", bitpack.ModelInfo{Mean: []float32{0.1}, Std: []float32{0.3}}, nil},
		{"normalised, named", bitpack.ModelInfo{Mean: []float32{0.1}, Std: []float32{0.3}, ClassNames: names}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := classify.New(model(t, tc.info))
			if !errors.Is(err, tc.err) {
				t.Fatalf("New: %v, want %v", err, tc.err)
			}
		})
	}
}

// TestClassifyEqualsManualPipeline checks the preprocessing against the
// formula: a 28×28 gray image becomes (p/255 − mean)/std, and Classify's
// top-1 is the argmax of Predict on that tensor.
func TestClassifyEqualsManualPipeline(t *testing.T) {
	mean, std := float32(0.1307), float32(0.3081)
	bm := model(t, bitpack.ModelInfo{Mean: []float32{mean}, Std: []float32{std}, ClassNames: datasets.ClassNames("mnist")})
	c, err := classify.New(bm)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	x := make([]float32, 28*28)
	if err := c.Tensor(img, x); err != nil {
		t.Fatal(err)
	}
	for i, p := range img.Pix {
		if want := (float32(p)/255 - mean) / std; math.Abs(float64(x[i]-want)) > 1e-5 {
			t.Fatalf("pixel %d: %g, want %g", i, x[i], want)
		}
	}
	logits, err := bm.Predict(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	dec, err := classify.Decode(b.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Classify(dec, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := classify.TopK(logits, 10, datasets.ClassNames("mnist")); !reflect.DeepEqual(got, want) {
		t.Fatalf("Classify = %v, want %v", got, want)
	}
	if _, err := c.Predict(x, 1, 0); !errors.Is(err, classify.ErrInput) {
		t.Fatalf("k=0: %v", err)
	}
	if _, err := c.Predict(x[:10], 1, 1); !errors.Is(err, classify.ErrInput) {
		t.Fatalf("short tensor: %v", err)
	}
}

func TestDecodeLimits(t *testing.T) {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 30, 20)))
	cases := []struct {
		name string
		data []byte
		max  int
		ok   bool
	}{
		{"fits", b.Bytes(), 600, true},
		{"over the pixel limit", b.Bytes(), 599, false},
		{"not an image", []byte("hello"), 0, false},
		{"truncated", b.Bytes()[:40], 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := classify.Decode(tc.data, tc.max)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, classify.ErrInput)) {
				t.Fatalf("Decode: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
