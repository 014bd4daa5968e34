package layers

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
	"github.com/lowbit/lowbit/ste"
)

// Kind classifies a parameter for the optimizer (weight decay applies to Weight only by default).
type Kind int

const (
	Weight Kind = iota
	Bias
	BNScale
	BNShift
	QuantParam
)

func (k Kind) String() string {
	return [...]string{"weight", "bias", "bn-scale", "bn-shift", "quant"}[k]
}

// Param is a learnable tensor shared by every graph the layer is added to.
type Param struct {
	Name  string
	Value *tensor.Dense
	Kind  Kind
	// Binary marks the latent weights of a layer whose weight quantizer has 1 bit
	// (latent clipping and Bop act on these).
	Binary bool
	// Decay is an L2 coefficient the quantizer's paper applies (PACT's α); 0 for none.
	Decay float32
}

// Data returns the parameter's values.
func (p *Param) Data() []float32 { return p.Value.Data().([]float32) }

func newParam(name string, kind Kind, data []float32, shape ...int) *Param {
	return &Param{Name: name, Kind: kind, Value: tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))}
}

// State is a non-learnable tensor saved in checkpoints (BatchNorm running statistics).
type State struct {
	Name string
	Data []float32
	// Pull copies live state into Data before a checkpoint reads it, and Push copies
	// Data back after a checkpoint wrote it; nil when Data is the live state itself.
	Pull, Push func()
}

// Graph is one Gorgonia graph under construction, in training or evaluation mode.
type Graph struct {
	G     *gorgonia.ExprGraph
	Train bool
	// Step points at the global training step; Dropout derives its mask from it and the
	// layer's seed, so a resumed run draws the same masks.
	Step *uint64
	// Row0 is the index of this graph's first row in the global batch of a
	// data-parallel run (0 in one process); per-sample quantizer noise keys on it.
	Row0 int
	// SyncBN, when set, makes training BatchNorm use the statistics of the global
	// batch: it must replace buf with its element-wise sum over all ranks.
	SyncBN func(buf []float32) error

	nodes map[*Param]*gorgonia.Node
	order []*Param
}

// NewGraph starts a graph. step may be nil for evaluation graphs.
func NewGraph(train bool, step *uint64) *Graph {
	if step == nil {
		step = new(uint64)
	}
	return &Graph{G: gorgonia.NewGraph(), Train: train, Step: step, nodes: map[*Param]*gorgonia.Node{}}
}

// Node returns p's node in this graph, creating it on first use.
func (g *Graph) Node(p *Param) *gorgonia.Node {
	if n, ok := g.nodes[p]; ok {
		return n
	}
	s := p.Value.Shape()
	n := gorgonia.NewTensor(g.G, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(p.Name), gorgonia.WithValue(p.Value))
	g.nodes[p] = n
	g.order = append(g.order, p)
	return n
}

// Params lists the parameters used by this graph, in first-use order, with their nodes.
func (g *Graph) Params() ([]*Param, gorgonia.Nodes) {
	ns := make(gorgonia.Nodes, len(g.order))
	for i, p := range g.order {
		ns[i] = g.nodes[p]
	}
	return g.order, ns
}

// Input creates a placeholder of the given shape backed by a reusable tensor.
func (g *Graph) Input(name string, shape ...int) (*gorgonia.Node, *tensor.Dense) {
	t := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	n := gorgonia.NewTensor(g.G, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(t))
	return n, t
}

// Layer is a building block that adds itself to a graph.
type Layer interface {
	// Name is the layer's unique name in its model, e.g. "conv2".
	Name() string
	// OutShape maps the per-sample input shape (NHWC without N) to the output shape.
	OutShape(in []int) ([]int, error)
	// Forward adds the layer to g.
	Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error)
	// Params lists the learnable tensors (nil when none).
	Params() []*Param
}

// Stateful layers keep non-learnable tensors that checkpoints must save.
type Stateful interface {
	States() []State
}

// Quantized layers report their quantizers, for summaries and export.
type Quantized interface {
	Quantizers() (weights, inputs ste.Quantizer)
}

// ErrShape reports a layer applied to an input of the wrong shape.
var ErrShape = errors.New("layers: bad shape")

func shapeErr(layer string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrShape, layer, fmt.Sprintf(format, args...))
}

// quantizer holds a built quantizer and its learnable parameters.
type quantizer struct {
	q      ste.Quantizer
	f      ste.Func
	params []*Param
}

// buildQuantizer builds q for a tensor; prefix names its parameters (e.g. "conv2.wq").
func buildQuantizer(q ste.Quantizer, prefix string, t ste.Target) (*quantizer, error) {
	if q == nil {
		return nil, nil
	}
	f, err := q.Build(t)
	if err != nil {
		return nil, fmt.Errorf("layers: %s: %w", prefix, err)
	}
	out := &quantizer{q: q, f: f}
	for _, p := range f.Params() {
		data := append([]float32(nil), p.Data...)
		pp := newParam(prefix+"."+p.Name, QuantParam, data, len(data))
		pp.Decay = p.Decay
		out.params = append(out.params, pp)
	}
	return out, nil
}

// apply adds the quantizer to g (identity when qz is nil).
func (qz *quantizer) apply(g *Graph, name string, x *gorgonia.Node) (*gorgonia.Node, error) {
	if qz == nil {
		return x, nil
	}
	ps := make([]*gorgonia.Node, len(qz.params))
	for i, p := range qz.params {
		ps[i] = g.Node(p)
	}
	n, err := ste.ApplyAt(qz.f, name+":"+qz.q.String(), g.Row0, x, ps...)
	if err != nil {
		return nil, fmt.Errorf("layers: %s: %w", name, err)
	}
	return n, nil
}

// applyOut adds k applied to in to g, followed by the output quantizer qz
// (identity when nil). An identity-forward, parameter-free qz (DoReFa's
// gradient quantizer) becomes k's gradient map: no node of its own, no copy of
// the output, the same gradients (ste.GradMap).
// The quantizer is named layer+".gq".
func (qz *quantizer) applyOut(g *Graph, layer string, k graphop.Kernel, in ...*gorgonia.Node) (*gorgonia.Node, error) {
	if qz != nil {
		if gm, ok := ste.GradMap(qz.f, layer+".gq:"+qz.q.String(), g.Row0); ok {
			n, err := graphop.ApplyGradMap(k, gm, in...)
			if err != nil {
				return nil, fmt.Errorf("layers: %s: %w", layer, err)
			}
			return n, nil
		}
	}
	n, err := graphop.Apply(k, in...)
	if err != nil {
		return nil, fmt.Errorf("layers: %s: %w", layer, err)
	}
	return qz.apply(g, layer+".gq", n)
}

// counterState exposes a quantizer's call counter (DoReFa gradient noise) as a
// checkpointed state: the uint64 is stored bit-exactly as two float32 bit patterns.
func (qz *quantizer) counterState(name string) []State {
	if qz == nil {
		return nil
	}
	c, ok := qz.f.(interface {
		State() uint64
		SetState(uint64)
	})
	if !ok {
		return nil
	}
	data := make([]float32, 2)
	return []State{{
		Name: name,
		Data: data,
		Pull: func() {
			n := c.State()
			data[0], data[1] = math.Float32frombits(uint32(n)), math.Float32frombits(uint32(n>>32))
		},
		Push: func() {
			c.SetState(uint64(math.Float32bits(data[0])) | uint64(math.Float32bits(data[1]))<<32)
		},
	}}
}

func (qz *quantizer) paramList() []*Param {
	if qz == nil {
		return nil
	}
	return qz.params
}

func (qz *quantizer) spec() ste.Quantizer {
	if qz == nil {
		return nil
	}
	return qz.q
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
