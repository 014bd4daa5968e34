package optim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr. It returns an error,
	// naming the parameter, on a length mismatch or a NaN/Inf gradient; on
	// error nothing is changed.
	Step(params []*Param, lr float32) error
	// Name is the registry key, e.g. "adam".
	Name() string
	// String is the full spec, e.g. "adam(beta1=0.9,beta2=0.999,eps=1e-08,wd=0)".
	String() string
	// State serialises every moment and step counter, keyed by parameter
	// name, exactly (float32 bit patterns).
	State() ([]byte, error)
	// SetState replaces the state with one saved by State of an optimizer
	// with the same Name. Corrupt bytes give an error wrapping ErrState and
	// leave the current state as it was.
	SetState([]byte) error
}

// Config selects hyperparameters for New. Its zero value is useful: fields
// that a given optimizer does not use are ignored, and zero Beta1, Beta2,
// Eps, Gamma and Threshold select the defaults below. To use an exact zero
// for one of those, build the optimizer struct directly.
type Config struct {
	// SGD.
	Momentum  float32
	Dampening float32
	Nesterov  bool

	// WeightDecay is the L2 coefficient (decoupled for AdamW). It applies
	// to Kind Weight only, or to every parameter when DecayAll is set;
	// Param.Decay overrides both.
	WeightDecay float32
	DecayAll    bool

	// Adam and AdamW; zero selects 0.9, 0.999 and 1e-8.
	Beta1, Beta2, Eps float32

	// Bop; zero selects Larq's 1e-4 and 1e-8.
	Gamma, Threshold float32
	// Inner updates Bop's non-binary parameters; nil selects Adam built
	// from this Config.
	Inner Optimizer
}

// Defaults used when the matching Config field is zero.
const (
	DefaultBeta1     = 0.9
	DefaultBeta2     = 0.999
	DefaultEps       = 1e-8
	DefaultGamma     = 1e-4
	DefaultThreshold = 1e-8
)

func orDefault(v, d float32) float32 {
	if v == 0 {
		return d
	}
	return v
}

func newAdamFrom(cfg Config, decoupled bool) *Adam {
	return &Adam{
		Beta1:       orDefault(cfg.Beta1, DefaultBeta1),
		Beta2:       orDefault(cfg.Beta2, DefaultBeta2),
		Eps:         orDefault(cfg.Eps, DefaultEps),
		WeightDecay: cfg.WeightDecay,
		DecayAll:    cfg.DecayAll,
		Decoupled:   decoupled,
	}
}

// registry maps names to constructors; it is only read after init.
var registry = map[string]func(Config) Optimizer{
	"sgd": func(c Config) Optimizer {
		return &SGD{Momentum: c.Momentum, Dampening: c.Dampening, Nesterov: c.Nesterov,
			WeightDecay: c.WeightDecay, DecayAll: c.DecayAll}
	},
	"adam":  func(c Config) Optimizer { return newAdamFrom(c, false) },
	"adamw": func(c Config) Optimizer { return newAdamFrom(c, true) },
	"bop": func(c Config) Optimizer {
		inner := c.Inner
		if inner == nil {
			inner = newAdamFrom(c, false)
		}
		return &Bop{Gamma: orDefault(c.Gamma, DefaultGamma),
			Threshold: orDefault(c.Threshold, DefaultThreshold), Inner: inner}
	},
}

// validator is implemented by every optimizer in this package.
type validator interface{ validate() error }

// New builds the optimizer registered under name ("sgd", "adam", "adamw",
// "bop") from cfg. Unknown names give an error wrapping ErrUnknown that
// lists the known ones; invalid hyperparameters give ErrConfig.
func New(name string, cfg Config) (Optimizer, error) {
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("optim: %q (known: %s): %w", name, strings.Join(Names(), ", "), ErrUnknown)
	}
	o := mk(cfg)
	if v, ok := o.(validator); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Names returns the registered optimizer names, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(registry))
}

// ff formats a float32 in its shortest round-tripping form.
func ff(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }
