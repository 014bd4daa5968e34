package recipes

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lowbit/lowbit/optim"
)

// Setup is a named training setup: optimizer, learning rate, schedule, batch
// and epochs, the part of a run that is the same whatever the quantizers are
// (a Recipe says how the model is quantized; a Setup says how it is trained).
// It is what a Keras or PyTorch user picks by name, like "the standard CIFAR
// recipe". Datasets lists the datasets whose training preset gives the
// augmentation the setup was designed for; Apply refuses others.
type Setup struct {
	Name      string
	About     string
	Optimizer string
	Opt       optim.Config
	LR        float32
	Schedule  Schedule
	Epochs    int
	Batch     int
	// Augment describes the training transform the datasets in Datasets apply
	// (their datasets package preset), for listings.
	Augment  string
	Datasets []string
}

var setupRegistry = map[string]Setup{}

// RegisterSetup adds s (init time only).
func RegisterSetup(s Setup) {
	if _, dup := setupRegistry[s.Name]; dup {
		panic("recipes: duplicate setup " + s.Name)
	}
	setupRegistry[s.Name] = s
}

// Setups lists the registered setup names, sorted.
func Setups() []string {
	out := make([]string, 0, len(setupRegistry))
	for n := range setupRegistry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupSetup returns the setup called name.
func LookupSetup(name string) (Setup, error) {
	s, ok := setupRegistry[name]
	if !ok {
		return Setup{}, fmt.Errorf("recipes: unknown setup %q (known: %s)", name, strings.Join(Setups(), ", "))
	}
	return s, nil
}

// Apply sets c's optimizer, learning rate, schedule, batch and epochs to the
// setup's, replacing the recipe's. It fails when c.Dataset is not one the
// setup is made for ("" counts as the default dataset, mnist).
func (s Setup) Apply(c *Config) error {
	ds := c.Dataset
	if ds == "" {
		ds = Defaults().Dataset
	}
	if len(s.Datasets) > 0 && !slices.Contains(s.Datasets, ds) {
		return fmt.Errorf("recipes: setup %s is made for %s, not dataset %s", s.Name, strings.Join(s.Datasets, ", "), ds)
	}
	c.Optimizer, c.Opt, c.LR, c.Schedule = s.Optimizer, s.Opt, s.LR, s.Schedule
	c.Epochs, c.Batch, c.FinalLR, c.Warmup = s.Epochs, s.Batch, 0, 0
	return nil
}

// String is a one-line summary, e.g. for 'lowbit recipes'.
func (s Setup) String() string {
	return fmt.Sprintf("%s lr %s, %s schedule, batch %d, %d epochs; %s", optSpec(s.Optimizer, s.Opt), trimFloat(s.LR), s.Schedule, s.Batch, s.Epochs, s.Augment)
}

func optSpec(name string, c optim.Config) string {
	o, err := optim.New(name, c)
	if err != nil {
		return name
	}
	return o.String()
}

func trimFloat(v float32) string { return strings.TrimSuffix(fmt.Sprintf("%g", v), ".0") }

// The standard CIFAR setup (He et al. 2016's ResNet-20 recipe with Nesterov
// momentum and a cosine schedule, as in most PyTorch CIFAR reproductions).
// Weight decay reaches conv and linear kernels only: BatchNorm scale and
// shift, biases and quantizer steps are not decayed (optim.Config.DecayAll
// is false), the common practice since Goyal et al. 2017 (also timm's and
// torchvision's reference scripts' option).
func init() {
	RegisterSetup(Setup{
		Name:      "cifar",
		About:     "standard CIFAR training: SGD 0.1 Nesterov 0.9, wd 5e-4 (weights only), cosine, batch 128, 15 epochs",
		Optimizer: "sgd",
		Opt:       optim.Config{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4},
		LR:        0.1,
		Schedule:  Cosine,
		Epochs:    15,
		Batch:     128,
		Augment:   "pad-4 random crop 32 + horizontal flip (p 0.5), CIFAR mean/std",
		Datasets:  []string{"cifar10", "cifar100"},
	})
}
