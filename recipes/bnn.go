package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// BinaryNet (Courbariaux et al. 2016): binary weights and activations with the
// clipped STE, latent weights clipped to [−1, 1], HardTanh before every sign, and
// binary weights in the first and last layers too (the image itself stays real).
func init() {
	RegisterRecipe(Recipe{
		Name:       "bnn",
		Paper:      "https://arxiv.org/abs/1602.02830",
		About:      "BinaryNet: sign weights and activations, clipped STE, latent clip 1, all layers' weights binary",
		Weights:    ste.Sign{},
		Inputs:     ste.Sign{},
		Policy:     models.SameWeights,
		LatentClip: 1,
		Expect:     map[string]float64{"mnist": 97.5},
	})
}
