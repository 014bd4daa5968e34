package recipes

import (
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// k-means weight sharing (Deep Compression, Han et al. 2016): 2^bits learnable
// centroids per layer, fp activations, first/last fp.
func init() {
	for _, k := range []int{2, 4} {
		RegisterRecipe(Recipe{
			Name:    "kmeans-w" + itoa(k),
			Paper:   "https://arxiv.org/abs/1510.00149",
			About:   "k-means weight sharing: 2^k learned centroids per layer, fp activations, first/last fp",
			Weights: ste.KMeans{Bits: k},
			Policy:  models.FP,
			Expect:  map[string]float64{"mnist": 99.1},
		})
	}
}
