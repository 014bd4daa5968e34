package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// PACT (Choi et al. 2018): activations clipped at a learned α (L2-regularised) and
// quantized to k bits, weights quantized with DoReFa's k-bit scheme as in the paper;
// first and last layers full precision.
func init() {
	for _, k := range []int{2, 4} {
		// The spec takes PACT's defaults: α starts at 10 with the paper's L2 1e-4.
		inputs, err := ste.Parse("pact(bits=" + itoa(k) + ")")
		if err != nil {
			panic(err) // init-time registration
		}
		RegisterRecipe(Recipe{
			Name:    "pact-w" + itoa(k) + "a" + itoa(k),
			Paper:   "https://arxiv.org/abs/1805.06085",
			About:   "PACT: learned activation clip α (init 10, L2 1e-4), DoReFa k-bit weights, first/last fp",
			Weights: ste.DoReFa{Bits: k},
			Inputs:  inputs,
			Policy:  models.FP,
			Expect:  map[string]float64{"mnist": 99.0},
		})
	}
}
