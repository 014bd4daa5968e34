package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// Ternary weights with full-precision activations: TWN (Li et al. 2016) with
// Δ = 0.7·mean|W| and one α per layer, and TTQ (Zhu et al. 2017) with two trained
// scales per layer. First and last layers full precision.
func init() {
	RegisterRecipe(Recipe{
		Name:    "twn",
		Paper:   "https://arxiv.org/abs/1605.04711",
		About:   "Ternary Weight Networks (W2A32): Δ = 0.7·mean|W|, α over kept weights, first/last fp",
		Weights: ste.TWN{},
		Policy:  models.FP,
		Expect:  map[string]float64{"mnist": 99.0},
	})
	RegisterRecipe(Recipe{
		Name:    "ttq",
		Paper:   "https://arxiv.org/abs/1612.01064",
		About:   "Trained Ternary Quantization (W2A32): learned W_p, W_n per layer, threshold 0.05·max|w|, first/last fp",
		Weights: ste.TTQ{},
		Policy:  models.FP,
		Expect:  map[string]float64{"mnist": 99.0},
	})
}
