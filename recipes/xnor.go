package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// XNOR-Net and its weight-only variant BWN (Rastegari et al. 2016): weights α·sign(W)
// with α per output channel, activations sign(x) (XNOR) or full precision (BWN),
// BN before each sign, first and last layers full precision.
func init() {
	RegisterRecipe(Recipe{
		Name:    "xnor",
		Paper:   "https://arxiv.org/abs/1603.05279",
		About:   "XNOR-Net: α·sign(W) per output channel, sign activations after BN, first/last fp",
		Weights: ste.XNOR{},
		Inputs:  ste.Sign{},
		Policy:  models.FP,
		Expect:  map[string]float64{"mnist": 98.3},
	})
	RegisterRecipe(Recipe{
		Name:    "bwn",
		Paper:   "https://arxiv.org/abs/1603.05279",
		About:   "Binary-Weight-Network (W1A32): α·sign(W) per output channel, fp activations, first/last fp",
		Weights: ste.XNOR{},
		Policy:  models.FP,
		Expect:  map[string]float64{"mnist": 99.0},
	})
}
