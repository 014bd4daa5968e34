package ste

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// Apply adds q(x) to x's graph. params are the nodes of f.Params(), in order.
// The node owns the memory of a Stateful f (Ctx.State): two graphs built from
// the same Func never share it.
func Apply(f Func, name string, x *gorgonia.Node, params ...*gorgonia.Node) (*gorgonia.Node, error) {
	return ApplyAt(f, name, 0, x, params...)
}

// ApplyAt is Apply for a graph whose row 0 is row row0 of the global batch (see Ctx.Row0).
func ApplyAt(f Func, name string, row0 int, x *gorgonia.Node, params ...*gorgonia.Node) (*gorgonia.Node, error) {
	if row0 < 0 {
		return nil, fmt.Errorf("ste: %s: negative first row %d", name, row0)
	}
	if len(params) != len(f.Params()) {
		return nil, fmt.Errorf("ste: %s: %d parameter nodes for %d parameters", name, len(params), len(f.Params()))
	}
	k := kernel{f: f, name: name, row0: row0}
	if s, ok := f.(Stateful); ok {
		k.state = s.NewState()
	}
	in := append([]*gorgonia.Node{x}, params...)
	return graphop.Apply(k, in...)
}

// GradMap returns f as the gradient map of graphop.ApplyGradMap, for a graph
// whose row 0 is row row0 of the global batch, when f's forward pass is the
// identity (it has an Identity method reporting true, as DoReFaGrad's Func
// does) and f has no parameters; ok is false otherwise, and the caller applies
// f as its own node. The map computes exactly what that node's backward pass
// would: f.Grad(0, dst, dOut, y, y, nil, ctx) with y the mapped op's output.
func GradMap(f Func, name string, row0 int) (k graphop.Kernel, ok bool) {
	id, isID := f.(interface{ Identity() bool })
	if !isID || !id.Identity() || len(f.Params()) != 0 || row0 < 0 {
		return nil, false
	}
	kn := kernel{f: f, name: name, row0: row0}
	if s, ok := f.(Stateful); ok {
		kn.state = s.NewState()
	}
	return kn, true
}

// kernel adapts a Func to graphop.Kernel for one graph node.
type kernel struct {
	f     Func
	name  string
	state any // the node's memory for a Stateful f, passed in Ctx.State
	row0  int // the graph's first row in the global batch (Ctx.Row0)
}

func (k kernel) String() string { return k.name }

func (k kernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) == 0 {
		return nil, fmt.Errorf("ste: %s: scalar input", k.name)
	}
	return in[0].Clone(), nil
}

func (k kernel) split(in []graphop.Tensor) ([][]float32, Ctx) {
	p := make([][]float32, len(in)-1)
	for i := range p {
		p[i] = in[i+1].Data
	}
	return p, Ctx{Rows: in[0].Shape[0], Row0: k.row0, State: k.state}
}

func (k kernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	p, c := k.split(in)
	return k.f.Forward(out.Data, in[0].Data, p, c)
}

func (k kernel) DiffWRT(int) bool { return true }

func (k kernel) Backward(wrt int, dIn graphop.Tensor, in []graphop.Tensor, out, dOut graphop.Tensor) error {
	p, c := k.split(in)
	return k.f.Grad(wrt, dIn.Data, dOut.Data, in[0].Data, out.Data, p, c)
}
