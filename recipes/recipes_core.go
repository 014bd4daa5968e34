package recipes

import (
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// The training-core recipes: full precision and LSQ at several bit widths.
func init() {
	RegisterRecipe(Recipe{
		Name:   "fp",
		About:  "full-precision baseline (Adam 1e-3, cosine)",
		Expect: map[string]float64{"mnist": 99.2, "fashion-mnist": 90.5},
	})
	for _, k := range []int{2, 3, 4, 8} {
		exp := map[int]float64{2: 99.0, 3: 99.1, 4: 99.1, 8: 99.2}[k]
		RegisterRecipe(Recipe{
			Name:    "lsq-w" + itoa(k) + "a" + itoa(k),
			Paper:   "https://arxiv.org/abs/1902.08153",
			About:   "LSQ: learned step size, signed weights and unsigned activations at the same bits; first/last full precision",
			Weights: ste.LSQ{Bits: k},
			Inputs:  ste.LSQ{Bits: k},
			Policy:  models.FP,
			Scaling: datasets.Standardize,
			Expect:  map[string]float64{"mnist": exp},
			// The paper fine-tunes from a trained FP model; with no FP checkpoint given
			// the recipe trains from scratch.
			InitFromFP: true,
		})
	}
}

func itoa(n int) string {
	if n >= 10 {
		return itoa(n/10) + string(rune('0'+n%10))
	}
	return string(rune('0' + n))
}
