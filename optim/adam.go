package optim

import (
	"fmt"
	"math"
	"strings"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/vec"
)

// Adam is Adam (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980) or, with
// Decoupled set, AdamW (Loshchilov & Hutter 2019,
// https://arxiv.org/abs/1711.05101), following torch.optim.Adam and
// torch.optim.AdamW. For each element at step t (counted per parameter,
// from 1), with weight decay λ:
//
//	p ← p·(1 − lr·λ)                  (AdamW only)
//	g ← g + λ·p                       (Adam only: L2)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
//
// ε sits outside the square root, as in PyTorch. The bias corrections are
// computed in float64, the element updates in float32.
//
// The fields are used as given; New fills the defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	Beta1, Beta2, Eps float32
	WeightDecay       float32 // λ, see Config.WeightDecay
	DecayAll          bool    // decay every Kind, not only Weight
	Decoupled         bool    // AdamW: decay the weights, not the gradient

	st stateTable // slots: m, v
}

// NewAdam returns Adam with PyTorch's defaults (0.9, 0.999, 1e-8, no decay).
func NewAdam() *Adam { return newAdamFrom(Config{}, false) }

// NewAdamW returns AdamW with PyTorch's defaults and weight decay wd.
func NewAdamW(wd float32) *Adam { return newAdamFrom(Config{WeightDecay: wd}, true) }

// Name returns "adam", or "adamw" when Decoupled is set.
func (a *Adam) Name() string {
	if a.Decoupled {
		return "adamw"
	}
	return "adam"
}

// String returns the spec, e.g. "adam(beta1=0.9,beta2=0.999,eps=1e-08,wd=0)".
func (a *Adam) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(beta1=%s,beta2=%s,eps=%s,wd=%s", a.Name(), ff(a.Beta1), ff(a.Beta2), ff(a.Eps), ff(a.WeightDecay))
	if a.DecayAll {
		b.WriteString(",decayall")
	}
	b.WriteString(")")
	return b.String()
}

func (a *Adam) validate() error {
	switch {
	case !finite32(a.Beta1) || a.Beta1 < 0 || a.Beta1 >= 1:
		return fmt.Errorf("optim: %s: beta1 %v not in [0,1): %w", a.Name(), a.Beta1, ErrConfig)
	case !finite32(a.Beta2) || a.Beta2 < 0 || a.Beta2 >= 1:
		return fmt.Errorf("optim: %s: beta2 %v not in [0,1): %w", a.Name(), a.Beta2, ErrConfig)
	case !finite32(a.Eps) || a.Eps < 0:
		return fmt.Errorf("optim: %s: eps %v: %w", a.Name(), a.Eps, ErrConfig)
	case !finite32(a.WeightDecay) || a.WeightDecay < 0:
		return fmt.Errorf("optim: %s: weight decay %v: %w", a.Name(), a.WeightDecay, ErrConfig)
	}
	return nil
}

// Step applies one Adam or AdamW update.
func (a *Adam) Step(params []*Param, lr float32) error {
	name := a.Name()
	if err := a.validate(); err != nil {
		return err
	}
	if err := checkParams(name, params, lr); err != nil {
		return err
	}
	if err := a.st.checkShapes(name, params); err != nil {
		return err
	}
	b1, b2, eps := a.Beta1, a.Beta2, a.Eps
	c1, c2 := 1-b1, 1-b2
	for _, p := range params {
		wd := decayFor(p, a.WeightDecay, a.DecayAll)
		st := a.st.get(p.Name, 2)
		if st.slots[0] == nil {
			st.slots[0] = make([]float32, len(p.Data))
		}
		if st.slots[1] == nil {
			st.slots[1] = make([]float32, len(p.Data))
		}
		m, v := st.slots[0], st.slots[1]
		st.step++
		t := float64(st.step)
		stepSize := float32(float64(lr) / (1 - math.Pow(float64(b1), t)))
		bc2Sqrt := float32(math.Sqrt(1 - math.Pow(float64(b2), t)))
		if a.Decoupled && wd != 0 {
			shrink := float32(1 - float64(lr)*float64(wd))
			for i := range p.Data {
				p.Data[i] *= shrink
			}
		}
		ap := &vec.AdamParams{B1: b1, C1: c1, B2: b2, C2: c2, StepSize: stepSize, BC2Sqrt: bc2Sqrt, Eps: eps}
		if !a.Decoupled {
			ap.WD = wd // L2: added to the gradient
		}
		data, grad := p.Data, p.Grad
		parallel.Rows(len(data), 1, func(_, lo, hi int) {
			vec.Adam(data[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], ap)
		})
	}
	return nil
}

// State serialises the moments and per-parameter step counters.
func (a *Adam) State() ([]byte, error) { return encodeState(a.Name(), a.st, nil), nil }

// SetState restores a state saved by an optimizer with the same Name.
func (a *Adam) SetState(b []byte) error {
	t, extra, err := decodeState(a.Name(), b)
	if err != nil {
		return err
	}
	if len(extra) != 0 {
		return fmt.Errorf("optim: %s: SetState: unexpected wrapped state: %w", a.Name(), ErrState)
	}
	if err := t.checkSlots(a.Name(), 2); err != nil {
		return err
	}
	a.st = t
	return nil
}
