package optim

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrShape reports a length mismatch between Data, Grad or saved state.
	ErrShape = errors.New("optim: length mismatch")
	// ErrNonFinite reports a NaN or ±Inf gradient.
	ErrNonFinite = errors.New("optim: non-finite gradient")
	// ErrState reports State bytes that cannot be decoded.
	ErrState = errors.New("optim: corrupt state")
	// ErrConfig reports an invalid hyperparameter or argument.
	ErrConfig = errors.New("optim: invalid configuration")
	// ErrUnknown reports an optimizer name missing from the registry.
	ErrUnknown = errors.New("optim: unknown optimizer")
)

// Kind says what a parameter is, which decides its default weight decay.
type Kind int

const (
	Weight     Kind = iota // dense or convolution weights; decayed by default
	Bias                   // biases
	BNScale                // batch-norm γ
	BNShift                // batch-norm β
	QuantParam             // quantizer parameters: LSQ step, PACT α, TTQ scales, centroids
	Other                  // anything else
)

var kindNames = [...]string{"weight", "bias", "bnscale", "bnshift", "quantparam", "other"}

// String returns the lower-case name of k.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Param is one trainable tensor, flattened. Optimizers update Data in place
// from Grad and key their saved state by Name, so names must be unique
// within one Step call.
type Param struct {
	Name string
	Data []float32
	Grad []float32
	Kind Kind
	// Binary marks the latent weight of a binary layer: Bop flips these,
	// ClipLatent clips them and FlipCounter counts their sign changes.
	Binary bool
	// Decay overrides the optimizer's weight-decay rule for this parameter
	// when non-nil (a value of 0 disables decay).
	Decay *float32
}

// decayFor returns the weight decay applied to p: the override if set, else
// wd for Kind Weight (or for every kind when all is set), else 0.
func decayFor(p *Param, wd float32, all bool) float32 {
	switch {
	case p.Decay != nil:
		return *p.Decay
	case all || p.Kind == Weight:
		return wd
	}
	return 0
}

// finite32 reports x is neither NaN nor ±Inf: its exponent bits are not all ones.
func finite32(x float32) bool {
	const exp = 0x7f800000
	return math.Float32bits(x)&exp != exp
}

// checkParams validates a Step call before anything is changed, so a failed
// Step leaves every parameter and all state untouched.
func checkParams(opt string, params []*Param, lr float32) error {
	if !finite32(lr) || lr < 0 {
		return fmt.Errorf("optim: %s: learning rate %v: %w", opt, lr, ErrConfig)
	}
	seen := make(map[string]struct{}, len(params))
	for i, p := range params {
		if p == nil {
			return fmt.Errorf("optim: %s: param %d is nil: %w", opt, i, ErrConfig)
		}
		if _, dup := seen[p.Name]; dup {
			return fmt.Errorf("optim: %s: param %q appears twice: %w", opt, p.Name, ErrConfig)
		}
		seen[p.Name] = struct{}{}
		if len(p.Grad) != len(p.Data) {
			return fmt.Errorf("optim: %s: param %q: len(Grad)=%d, len(Data)=%d: %w",
				opt, p.Name, len(p.Grad), len(p.Data), ErrShape)
		}
		if p.Decay != nil && (!finite32(*p.Decay) || *p.Decay < 0) {
			return fmt.Errorf("optim: %s: param %q: decay %v: %w", opt, p.Name, *p.Decay, ErrConfig)
		}
		for j, g := range p.Grad {
			if !finite32(g) {
				return fmt.Errorf("optim: %s: param %q: grad[%d]=%v: %w", opt, p.Name, j, g, ErrNonFinite)
			}
		}
	}
	return nil
}
