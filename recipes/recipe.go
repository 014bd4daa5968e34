package recipes

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/optim"
	"github.com/lowbit/lowbit/ste"
)

// Recipe is a paper's training setup as a Go value: the quantizers, the
// first/last-layer policy, the optimizer and schedule, and the accuracy we
// expect on the small datasets (test top-1, %, LeNet-5 unless Model says otherwise).
type Recipe struct {
	Name    string        `json:"name"`
	Paper   string        `json:"paper,omitempty"` // link to the paper
	About   string        `json:"about"`           // one line
	Model   string        `json:"model,omitempty"` // default model; "" means lenet5
	Weights ste.Quantizer `json:"-"`
	Inputs  ste.Quantizer `json:"-"`
	Grads   ste.Quantizer `json:"-"`
	Policy  models.Policy `json:"policy,omitempty"`
	Act     models.Act    `json:"act,omitempty"`
	Hidden  []int         `json:"hidden,omitempty"` // MLP widths when Model is mlp

	Optimizer  string           `json:"optimizer,omitempty"` // "" means adam
	Opt        optim.Config     `json:"-"`
	LR         float32          `json:"lr,omitempty"` // 0 means 1e-3
	FinalLR    float32          `json:"final_lr,omitempty"`
	Schedule   Schedule         `json:"schedule,omitempty"` // "" means cosine
	Epochs     int              `json:"epochs,omitempty"`   // 0 means 3
	Batch      int              `json:"batch,omitempty"`    // 0 means 64
	LatentClip float32          `json:"latent_clip,omitempty"`
	Scaling    datasets.Scaling `json:"-"`
	// InitFromFP: the paper starts from a trained full-precision model (LSQ);
	// Config.Resume-like initialisation is done by the caller with InitFrom.
	InitFromFP bool `json:"init_from_fp,omitempty"`

	Expect map[string]float64 `json:"expect"` // dataset name → expected test accuracy (%)
}

var recipeRegistry = map[string]Recipe{}

// RegisterRecipe adds r (init time only).
func RegisterRecipe(r Recipe) {
	if _, dup := recipeRegistry[r.Name]; dup {
		panic("recipes: duplicate recipe " + r.Name)
	}
	recipeRegistry[r.Name] = r
}

// Recipes lists the registered recipe names, sorted.
func Recipes() []string {
	out := make([]string, 0, len(recipeRegistry))
	for n := range recipeRegistry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the recipe called name.
func Lookup(name string) (Recipe, error) {
	r, ok := recipeRegistry[name]
	if !ok {
		return Recipe{}, fmt.Errorf("recipes: unknown recipe %q (known: %s)", name, strings.Join(Recipes(), ", "))
	}
	return r, nil
}

// Config turns the recipe into a run on dataset (model "" keeps the recipe's).
func (r Recipe) Config(model, dataset string) Config {
	if model == "" {
		model = r.Model
	}
	if model == "" {
		model = "lenet5"
	}
	return Config{
		Model:      models.Spec{Name: model, Weights: r.Weights, Inputs: r.Inputs, Grads: r.Grads, Policy: r.Policy, Act: r.Act, Hidden: r.Hidden},
		Recipe:     r.Name,
		Dataset:    dataset,
		Scaling:    r.Scaling,
		Epochs:     r.Epochs,
		Batch:      r.Batch,
		LR:         r.LR,
		FinalLR:    r.FinalLR,
		Optimizer:  r.Optimizer,
		Opt:        r.Opt,
		Schedule:   r.Schedule,
		LatentClip: r.LatentClip,
	}
}

// MarshalJSON writes quantizers by their spec strings.
func (r Recipe) MarshalJSON() ([]byte, error) {
	type plain Recipe
	return json.Marshal(struct {
		plain
		Weights     string  `json:"weights"`
		Inputs      string  `json:"inputs"`
		Grads       string  `json:"grads,omitempty"`
		Scaling     string  `json:"scaling"`
		WeightDecay float32 `json:"weight_decay,omitempty"`
		Momentum    float32 `json:"momentum,omitempty"`
	}{plain(r), ste.SpecOf(r.Weights), ste.SpecOf(r.Inputs), models.GradSpec(r.Grads), r.Scaling.String(), r.Opt.WeightDecay, r.Opt.Momentum})
}
