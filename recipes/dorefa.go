package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// DoReFa-Net (Zhou et al. 2016, tensorpack dorefa.py): k-bit weights through the tanh
// normalisation (k=1: sign·mean|w|), activations quantize_k(clip(x,0,1)), first and
// last layers full precision.
func init() {
	for _, v := range []struct {
		w, a int
		exp  float64
	}{{1, 2, 98.8}, {2, 2, 99.0}, {1, 4, 99.0}} {
		RegisterRecipe(Recipe{
			Name:    "dorefa-w" + itoa(v.w) + "a" + itoa(v.a),
			Paper:   "https://arxiv.org/abs/1606.06160",
			About:   "DoReFa-Net: tanh-normalised k-bit weights, clip-and-round activations, first/last fp",
			Weights: ste.DoReFa{Bits: v.w},
			Inputs:  ste.DoReFa{Bits: v.a},
			Policy:  models.FP,
			Expect:  map[string]float64{"mnist": v.exp},
		})
	}
	// W1A2G6: also 6-bit stochastic gradients after every quantized layer (the paper's AlexNet headline).
	RegisterRecipe(Recipe{
		Name:    "dorefa-w1a2g6",
		Paper:   "https://arxiv.org/abs/1606.06160",
		About:   "DoReFa-Net W1A2 with 6-bit stochastic gradient quantization after each quantized layer",
		Weights: ste.DoReFa{Bits: 1},
		Inputs:  ste.DoReFa{Bits: 2},
		Grads:   ste.DoReFaGrad{Bits: 6},
		Policy:  models.FP,
		Expect:  map[string]float64{"mnist": 98.8},
	})
}
