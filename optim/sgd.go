package optim

import (
	"fmt"
	"strings"
)

// SGD is stochastic gradient descent with optional momentum and Nesterov
// momentum, following torch.optim.SGD exactly. For each element, with
// weight decay λ, momentum μ and dampening d:
//
//	g ← g + λ·p                      (L2, if λ ≠ 0)
//	b ← g                            (first step)
//	b ← μ·b + (1−d)·g                (later steps)
//	g ← g + μ·b  if Nesterov, else g ← b   (if μ ≠ 0)
//	p ← p − lr·g
//
// Nesterov momentum needs μ > 0 and d = 0 (Sutskever et al. 2013, as in
// PyTorch). The zero value is plain SGD.
type SGD struct {
	Momentum    float32
	Dampening   float32
	Nesterov    bool
	WeightDecay float32 // L2 coefficient λ, see Config.WeightDecay
	DecayAll    bool    // decay every Kind, not only Weight

	st stateTable // slot 0: momentum buffer b
}

// Name returns "sgd".
func (s *SGD) Name() string { return "sgd" }

// String returns the spec, e.g. "sgd(momentum=0.9,nesterov,wd=0.0005)".
func (s *SGD) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sgd(momentum=%s", ff(s.Momentum))
	if s.Dampening != 0 {
		fmt.Fprintf(&b, ",dampening=%s", ff(s.Dampening))
	}
	if s.Nesterov {
		b.WriteString(",nesterov")
	}
	fmt.Fprintf(&b, ",wd=%s", ff(s.WeightDecay))
	if s.DecayAll {
		b.WriteString(",decayall")
	}
	b.WriteString(")")
	return b.String()
}

func (s *SGD) validate() error {
	switch {
	case !finite32(s.Momentum) || s.Momentum < 0:
		return fmt.Errorf("optim: sgd: momentum %v: %w", s.Momentum, ErrConfig)
	case !finite32(s.Dampening) || s.Dampening < 0 || s.Dampening > 1:
		return fmt.Errorf("optim: sgd: dampening %v: %w", s.Dampening, ErrConfig)
	case !finite32(s.WeightDecay) || s.WeightDecay < 0:
		return fmt.Errorf("optim: sgd: weight decay %v: %w", s.WeightDecay, ErrConfig)
	case s.Nesterov && (s.Momentum == 0 || s.Dampening != 0):
		return fmt.Errorf("optim: sgd: nesterov needs momentum > 0 and dampening 0: %w", ErrConfig)
	}
	return nil
}

// Step applies one SGD update.
func (s *SGD) Step(params []*Param, lr float32) error {
	if err := s.validate(); err != nil {
		return err
	}
	if err := checkParams("sgd", params, lr); err != nil {
		return err
	}
	if err := s.st.checkShapes("sgd", params); err != nil {
		return err
	}
	mu, damp := s.Momentum, 1-s.Dampening
	for _, p := range params {
		wd := decayFor(p, s.WeightDecay, s.DecayAll)
		st := s.st.get(p.Name, 1)
		st.step++
		if mu == 0 {
			for i, g := range p.Grad {
				if wd != 0 {
					g += wd * p.Data[i]
				}
				p.Data[i] -= lr * g
			}
			continue
		}
		buf, first := st.slots[0], st.slots[0] == nil
		if first {
			buf = make([]float32, len(p.Data))
			st.slots[0] = buf
		}
		for i, g := range p.Grad {
			if wd != 0 {
				g += wd * p.Data[i]
			}
			if first {
				buf[i] = g
			} else {
				buf[i] = mu*buf[i] + damp*g
			}
			if s.Nesterov {
				g += mu * buf[i]
			} else {
				g = buf[i]
			}
			p.Data[i] -= lr * g
		}
	}
	return nil
}

// State serialises the momentum buffers and step counters.
func (s *SGD) State() ([]byte, error) { return encodeState(s.Name(), s.st, nil), nil }

// SetState restores a state saved by an SGD.
func (s *SGD) SetState(b []byte) error {
	t, extra, err := decodeState(s.Name(), b)
	if err != nil {
		return err
	}
	if len(extra) != 0 {
		return fmt.Errorf("optim: sgd: SetState: unexpected wrapped state: %w", ErrState)
	}
	if err := t.checkSlots(s.Name(), 1); err != nil {
		return err
	}
	s.st = t
	return nil
}
