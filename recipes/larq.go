package recipes

import (
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/ste"
)

// Larq's MNIST tutorial (https://docs.larq.dev/larq/tutorials/mnist/): the all-binary
// larq-cnn with ste_sign kernels (latent weights clipped to [−1, 1]) and ste_sign
// inputs everywhere but the image, inputs scaled to [−1, 1], Adam 1e-3, batch 64, 6
// epochs; the tutorial reports 97.51% test accuracy. The tutorial keeps the rate
// constant; we decay it with a cosine, because with a constant rate the binary
// net's test accuracy swings by about a point from epoch to epoch (98.26% at
// epoch 4, 96.95% at epoch 6 in one run), and the last epoch is what counts.
//
// bnn-bop trains BinaryNet's LeNet-5 with Bop (Helwegen et al. 2019,
// https://arxiv.org/abs/1906.02107), which flips binary weights where the gradient's
// moving average m (rate γ) exceeds τ and points against them; BN parameters and any
// other real-valued tensors go to an inner Adam.
func init() {
	RegisterRecipe(Recipe{
		Name:       "larq-bnn",
		Paper:      "https://docs.larq.dev/larq/tutorials/mnist/",
		About:      "Larq tutorial all-binary CNN (93,790 values): ste_sign kernels and inputs (image real), BN without scale, Adam 1e-3 cosine, 6 epochs",
		Model:      "larq-cnn",
		Weights:    ste.Sign{},
		Inputs:     ste.Sign{},
		Policy:     models.SameWeights,
		Act:        models.None,
		Schedule:   Cosine,
		Epochs:     6,
		Batch:      64,
		LatentClip: 1,
		Scaling:    datasets.Symmetric,
		Expect:     map[string]float64{"mnist": 97.51},
	})
	RegisterRecipe(Recipe{
		Name:      "bnn-bop",
		Paper:     "https://arxiv.org/abs/1906.02107",
		About:     "BinaryNet's LeNet-5 trained with Bop (γ=1e-3, τ=1e-6) for the binary weights and Adam 1e-3 for the rest",
		Weights:   ste.Sign{},
		Inputs:    ste.Sign{},
		Policy:    models.SameWeights,
		Optimizer: "bop",
		Opt:       optim.Config{Gamma: 1e-3, Threshold: 1e-6},
		Expect:    map[string]float64{"mnist": 97.8},
	})
}
