package export_test

import (
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// TestWideLayersKeepIntegerKernels freezes ResNet-18 (64 px input, so
// the model is cheap to build) whose last stage has 3×3×512 = 4608
// inputs per output channel, more than the engine's input-channel limit:
// every body conv must still get its integer kernel, not fall back to
// float weights.
func TestWideLayersKeepIntegerKernels(t *testing.T) {
	for _, tc := range []struct{ recipe, kernel string }{{"xnor", bitpack.KernelXNOR}, {"dorefa-w1a2", bitpack.KernelBitSerial}} {
		r, err := recipes.Lookup(tc.recipe)
		if err != nil {
			t.Fatal(err)
		}
		ms := r.Config("resnet18", "imagenette").Model
		ms.Input = []int{64, 64, 3}
		m, err := models.New(ms)
		if err != nil {
			t.Fatal(err)
		}
		bm, err := export.Freeze(m)
		if err != nil {
			t.Fatal(err)
		}
		var walk func([]bitpack.LayerSpec)
		wide := 0
		walk = func(ls []bitpack.LayerSpec) {
			for _, l := range ls {
				if l.Kind == bitpack.LayerConv && l.KH == 3 && l.In == 512 {
					wide++
					if l.Kernel != tc.kernel {
						t.Errorf("%s: %s (%d×%d×%d inputs) runs kernel %s with %s weights, want %s", tc.recipe, l.Name, l.KH, l.KW, l.In, l.Kernel, l.Weights.Enc, tc.kernel)
					}
				}
				walk(l.Body)
				walk(l.Shortcut)
			}
		}
		walk(bm.Spec().Layers)
		if wide != 3 {
			t.Fatalf("%s: found %d 3×3 convs over 512 channels, want 3", tc.recipe, wide)
		}
	}
}
