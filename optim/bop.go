package optim

import (
	"fmt"
	"math"
)

// Bop is the Binary Optimizer of Helwegen et al. 2019, "Latent Weights Do
// Not Exist: Rethinking Binarized Neural Network Optimization"
// (https://arxiv.org/abs/1906.02107). For each Binary parameter it keeps an
// exponential moving average m of the gradient and flips weights that it
// points against:
//
//	m ← (1−γ)·m + γ·g
//	w ← −w   where |m| > τ and sign(m) = sign(w)
//
// Binary weights hold ±1; Bop writes sign(w) or −sign(w), with sign(0) = +1,
// so weights that are not yet ±1 are binarised on the first step. The
// learning rate is not used for binary weights.
//
// Parameters that are not Binary are handed, with the learning rate, to
// Inner (as in Larq's CaseOptimizer); Bop fails if there are any and Inner
// is nil. The defaults γ = 1e-4 and τ = 1e-8 are Larq's (New fills them);
// the fields are used as given.
type Bop struct {
	Gamma     float32 // γ, adaptivity rate in (0, 1]
	Threshold float32 // τ ≥ 0
	Inner     Optimizer

	st stateTable // slot 0: m
}

// Name returns "bop".
func (o *Bop) Name() string { return "bop" }

// String returns the spec, e.g.
// "bop(gamma=0.0001,threshold=1e-08,inner=adam(beta1=0.9,beta2=0.999,eps=1e-08,wd=0))".
func (o *Bop) String() string {
	inner := "none"
	if o.Inner != nil {
		inner = o.Inner.String()
	}
	return fmt.Sprintf("bop(gamma=%s,threshold=%s,inner=%s)", ff(o.Gamma), ff(o.Threshold), inner)
}

func (o *Bop) validate() error {
	switch {
	case !finite32(o.Gamma) || o.Gamma <= 0 || o.Gamma > 1:
		return fmt.Errorf("optim: bop: gamma %v not in (0,1]: %w", o.Gamma, ErrConfig)
	case !finite32(o.Threshold) || o.Threshold < 0:
		return fmt.Errorf("optim: bop: threshold %v: %w", o.Threshold, ErrConfig)
	}
	if v, ok := o.Inner.(validator); ok {
		return v.validate()
	}
	return nil
}

// Step flips Binary parameters and hands the rest to Inner.
func (o *Bop) Step(params []*Param, lr float32) error {
	if err := o.validate(); err != nil {
		return err
	}
	if err := checkParams("bop", params, lr); err != nil {
		return err
	}
	var binary, rest []*Param
	for _, p := range params {
		if p.Binary {
			binary = append(binary, p)
		} else {
			rest = append(rest, p)
		}
	}
	if err := o.st.checkShapes("bop", binary); err != nil {
		return err
	}
	if len(rest) > 0 {
		if o.Inner == nil {
			return fmt.Errorf("optim: bop: param %q is not binary and Inner is nil: %w", rest[0].Name, ErrConfig)
		}
		// Inner goes first: if it fails, nothing has been flipped.
		if err := o.Inner.Step(rest, lr); err != nil {
			return fmt.Errorf("optim: bop: inner: %w", err)
		}
	}
	gamma, keep, tau := o.Gamma, 1-o.Gamma, o.Threshold
	for _, p := range binary {
		st := o.st.get(p.Name, 1)
		if st.slots[0] == nil {
			st.slots[0] = make([]float32, len(p.Data))
		}
		m := st.slots[0]
		st.step++
		data := p.Data[:len(p.Grad)]
		m = m[:len(p.Grad)]
		for i, g := range p.Grad {
			mi := keep*m[i] + gamma*g
			m[i] = mi
			// w·m > τ is (m > τ and w > 0) or (m < −τ and w < 0): the flip,
			// rare, is the only branch; the sign of a random weight as a
			// branch cost a misprediction per weight (a quarter of a
			// LeNet-5 step).
			w := signOne(data[i])
			if w*mi > tau {
				w = -w
			}
			data[i] = w
		}
	}
	return nil
}

// State serialises the gradient averages, step counters and Inner's state.
func (o *Bop) State() ([]byte, error) {
	var inner []byte
	if o.Inner != nil {
		var err error
		if inner, err = o.Inner.State(); err != nil {
			return nil, fmt.Errorf("optim: bop: inner: %w", err)
		}
	}
	return encodeState(o.Name(), o.st, inner), nil
}

// SetState restores a state saved by a Bop, including Inner's state.
func (o *Bop) SetState(b []byte) error {
	t, inner, err := decodeState(o.Name(), b)
	if err != nil {
		return err
	}
	if err := t.checkSlots(o.Name(), 1); err != nil {
		return err
	}
	switch {
	case o.Inner != nil && len(inner) > 0:
		if err := o.Inner.SetState(inner); err != nil {
			return fmt.Errorf("optim: bop: inner: %w", err)
		}
	case o.Inner != nil:
		return fmt.Errorf("optim: bop: SetState: no state saved for Inner: %w", ErrState)
	case len(inner) > 0:
		return fmt.Errorf("optim: bop: SetState: state for an Inner optimizer, but Inner is nil: %w", ErrState)
	}
	o.st = t
	return nil
}

// signOne is −1 when x < 0 and +1 otherwise (−0 and NaN included), with
// no branch.
func signOne(x float32) float32 {
	b := math.Float32bits(x)
	return math.Float32frombits(0x3f800000 | b2u(b-0x80000001 < 0x7f800000)<<31)
}

// b2u is 1 for true, 0 for false; the compiler emits a SETcc.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
