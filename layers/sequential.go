package layers

import (
	"fmt"

	"gorgonia.org/gorgonia"
)

// Sequential applies its layers in order.
type Sequential struct {
	name   string
	Layers []Layer
}

// NewSequential groups layers.
func NewSequential(name string, ls ...Layer) *Sequential { return &Sequential{name: name, Layers: ls} }

func (s *Sequential) Name() string { return s.name }

func (s *Sequential) OutShape(in []int) ([]int, error) {
	var err error
	for _, l := range s.Layers {
		if in, err = l.OutShape(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (s *Sequential) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	var err error
	for _, l := range s.Layers {
		if x, err = l.Forward(g, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Residual computes Body(x) + Shortcut(x); a nil Shortcut is the identity.
type Residual struct {
	name     string
	Body     Layer
	Shortcut Layer
}

// NewResidual builds a residual block.
func NewResidual(name string, body, shortcut Layer) *Residual {
	return &Residual{name: name, Body: body, Shortcut: shortcut}
}

func (r *Residual) Name() string { return r.name }

func (r *Residual) OutShape(in []int) ([]int, error) {
	a, err := r.Body.OutShape(in)
	if err != nil {
		return nil, err
	}
	b := in
	if r.Shortcut != nil {
		if b, err = r.Shortcut.OutShape(in); err != nil {
			return nil, err
		}
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		return nil, shapeErr(r.name, "body gives %v, shortcut gives %v", a, b)
	}
	return a, nil
}

func (r *Residual) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	a, err := r.Body.Forward(g, x)
	if err != nil {
		return nil, err
	}
	b := x
	if r.Shortcut != nil {
		if b, err = r.Shortcut.Forward(g, x); err != nil {
			return nil, err
		}
	}
	return Add(r.name, a, b)
}

func (r *Residual) Params() []*Param {
	ps := r.Body.Params()
	if r.Shortcut != nil {
		ps = append(ps, r.Shortcut.Params()...)
	}
	return ps
}

// Children returns the layers inside a container (nil for leaves).
func Children(l Layer) []Layer {
	switch c := l.(type) {
	case *Sequential:
		return c.Layers
	case *Residual:
		if c.Shortcut != nil {
			return []Layer{c.Body, c.Shortcut}
		}
		return []Layer{c.Body}
	}
	return nil
}

// Walk calls fn for l and every layer inside it, depth first.
func Walk(l Layer, fn func(Layer)) {
	fn(l)
	for _, c := range Children(l) {
		Walk(c, fn)
	}
}

// States collects the non-learnable tensors of l and the layers inside it.
func States(l Layer) []State {
	var out []State
	Walk(l, func(x Layer) {
		if s, ok := x.(Stateful); ok {
			out = append(out, s.States()...)
		}
	})
	return out
}
