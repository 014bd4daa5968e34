package export_test

import (
	"errors"
	"image"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

func TestWriteRefusesMissingMetadata(t *testing.T) {
	names := datasets.ClassNames("mnist")
	mean, std := []float32{0.1}, []float32{0.3}
	cases := []struct {
		name string
		info bitpack.ModelInfo
		ok   bool
	}{
		{"complete", bitpack.ModelInfo{Mean: mean, Std: std, ClassNames: names}, true},
		{"raw input without normalisation", bitpack.ModelInfo{RawInput: true, ClassNames: names}, true},
		{"no normalisation", bitpack.ModelInfo{ClassNames: names}, false},
		{"no class names", bitpack.ModelInfo{Mean: mean, Std: std}, false},
		{"raw input without class names", bitpack.ModelInfo{RawInput: true}, false},
		{"NaN mean", bitpack.ModelInfo{Mean: []float32{float32(math.NaN())}, Std: std, ClassNames: names}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := models.New(models.Spec{Name: "lenet5", Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			bm, err := export.FreezeWith(m, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.lbq")
			err = export.Write(path, bm)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, export.ErrMetadata)) {
				t.Fatalf("Write: %v, want ok=%v", err, tc.ok)
			}
			if _, lerr := bitpack.Load(path); tc.ok != (lerr == nil) {
				t.Fatalf("Load after Write (%v): %v", err, lerr)
			}
		})
	}
}

// TestScriptExportCarriesMetadata is the script path: recipes.Train,
// export.Freeze, export.Write, then classify on raw pixels gives exactly
// the inputs training saw, under the recipe's own scaling.
func TestScriptExportCarriesMetadata(t *testing.T) {
	for _, recipe := range []string{"xnor", "larq-bnn"} {
		t.Run(recipe, func(t *testing.T) {
			if _, err := recipes.Lookup(recipe); err != nil {
				t.Skipf("no recipe %s", recipe)
			}
			m, data := trained(t, recipe)
			bm, err := export.Freeze(m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.lbq")
			if err := export.Write(path, bm); err != nil {
				t.Fatal(err)
			}
			if bm, err = bitpack.Load(path); err != nil {
				t.Fatal(err)
			}
			if got := bm.Info().ClassNames; !slices.Equal(got, datasets.ClassNames("mnist")) {
				t.Fatalf("class names %v", got)
			}
			c, err := classify.New(bm)
			if err != nil {
				t.Fatal(err)
			}
			raw := mnist(t, datasets.Unit) // p/255
			const n = 50
			x := make([]float32, 28*28)
			for i := range n {
				img := image.NewGray(image.Rect(0, 0, 28, 28))
				for j := range img.Pix {
					img.Pix[j] = uint8(math.Round(float64(raw.x[i*784+j]) * 255))
				}
				if err := c.Tensor(img, x); err != nil {
					t.Fatal(err)
				}
				for j, v := range x {
					if want := data.x[i*784+j]; math.Abs(float64(v-want)) > 1e-5 {
						t.Fatalf("image %d pixel %d: classify gives %g, training saw %g", i, j, v, want)
					}
				}
			}
		})
	}
}
