package layers

import (
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/ste"
)

// DenseConfig configures a fully connected layer. Nil quantizers mean full precision.
type DenseConfig struct {
	In, Out int
	NoBias  bool
	Weights ste.Quantizer // applied to W (per output row)
	Inputs  ste.Quantizer // applied to the layer's input
	// Grads is applied to the layer's output: identity forward, and it quantizes the
	// gradient flowing back (DoReFa's G bits, ste.DoReFaGrad).
	Grads ste.Quantizer
}

// Dense computes y = q_i(x)·q_w(W)ᵀ + b with W of shape [Out][In]; x is
// flattened per sample (NHWC order). W and b start from PyTorch's default
// U(−1/√In, 1/√In).
type Dense struct {
	name       string
	cfg        DenseConfig
	W, B       *Param
	wq, iq, gq *quantizer
}

// NewDense builds a Dense layer whose weights are drawn from rng.
func NewDense(name string, cfg DenseConfig, rng *rand.Rand) (*Dense, error) {
	if cfg.In <= 0 || cfg.Out <= 0 {
		return nil, shapeErr(name, "In=%d Out=%d", cfg.In, cfg.Out)
	}
	l := &Dense{name: name, cfg: cfg}
	bound := float32(1 / math.Sqrt(float64(cfg.In)))
	l.W = newParam(name+".weight", Weight, uniform(rng, cfg.Out*cfg.In, bound), cfg.Out, cfg.In)
	if !cfg.NoBias {
		l.B = newParam(name+".bias", Bias, uniform(rng, cfg.Out, bound), cfg.Out)
	}
	var err error
	if l.wq, err = buildQuantizer(cfg.Weights, name+".wq", ste.Target{Shape: []int{cfg.Out, cfg.In}, Role: ste.Weights, Init: l.W.Data()}); err != nil {
		return nil, err
	}
	if l.iq, err = buildQuantizer(cfg.Inputs, name+".iq", ste.Target{Shape: []int{1, cfg.In}, Role: ste.Inputs}); err != nil {
		return nil, err
	}
	if l.gq, err = buildQuantizer(cfg.Grads, name+".gq", ste.Target{Shape: []int{1, cfg.Out}, Role: ste.Inputs}); err != nil {
		return nil, err
	}
	l.W.Binary = ste.BitsFor(cfg.Weights, ste.Weights) == 1
	return l, nil
}

func uniform(rng *rand.Rand, n int, bound float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = (2*rng.Float32() - 1) * bound
	}
	return out
}

func (l *Dense) Name() string                                { return l.name }
func (l *Dense) Config() DenseConfig                         { return l.cfg }
func (l *Dense) Quantizers() (weights, inputs ste.Quantizer) { return l.wq.spec(), l.iq.spec() }

func (l *Dense) OutShape(in []int) ([]int, error) {
	if prod(in) != l.cfg.In {
		return nil, shapeErr(l.name, "input %v has %d features, want %d", in, prod(in), l.cfg.In)
	}
	return []int{l.cfg.Out}, nil
}

func (l *Dense) Params() []*Param {
	ps := []*Param{l.W}
	if l.B != nil {
		ps = append(ps, l.B)
	}
	ps = append(ps, l.wq.paramList()...)
	ps = append(ps, l.gq.paramList()...)
	return append(ps, l.iq.paramList()...)
}

func (l *Dense) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	xq, err := l.iq.apply(g, l.name+".iq", x)
	if err != nil {
		return nil, err
	}
	w, err := l.wq.apply(g, l.name+".wq", g.Node(l.W))
	if err != nil {
		return nil, err
	}
	in := []*gorgonia.Node{xq, w}
	if l.B != nil {
		in = append(in, g.Node(l.B))
	}
	k := &denseKernel{name: l.name, hasBias: l.B != nil, exact: newIntLinear(g, l.iq, l.wq)}
	return l.gq.applyOut(g, l.name, k, in...)
}

// States holds the gradient quantizer's noise counter, if any.
func (l *Dense) States() []State { return l.gq.counterState(l.name + ".gq.calls") }
