package layers

import (
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/ste"
)

// Conv2DConfig configures a 2-D convolution over NHWC maps. Nil quantizers mean full precision.
type Conv2DConfig struct {
	In, Out int
	Kernel  int // square kernel size
	Stride  int // 0 means 1
	Pad     int // zero padding on each side (applied after the input quantizer)
	NoBias  bool
	Weights ste.Quantizer // applied to W (per output channel)
	Inputs  ste.Quantizer // applied to the layer's input
	// Grads is applied to the layer's output: identity forward, and it quantizes the
	// gradient flowing back (DoReFa's G bits, ste.DoReFaGrad).
	Grads ste.Quantizer
}

// Conv2D computes y = conv(q_i(x), q_w(W)) + b with W in OHWI layout
// [Out][Kernel][Kernel][In], through im2col and internal/gemm. W and b start
// from PyTorch's default U(−1/√fan_in, 1/√fan_in).
type Conv2D struct {
	name       string
	cfg        Conv2DConfig
	W, B       *Param
	wq, iq, gq *quantizer
}

// NewConv2D builds a Conv2D layer whose weights are drawn from rng.
func NewConv2D(name string, cfg Conv2DConfig, rng *rand.Rand) (*Conv2D, error) {
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.Kernel <= 0 || cfg.Stride < 0 || cfg.Pad < 0 {
		return nil, shapeErr(name, "In=%d Out=%d Kernel=%d Stride=%d Pad=%d", cfg.In, cfg.Out, cfg.Kernel, cfg.Stride, cfg.Pad)
	}
	l := &Conv2D{name: name, cfg: cfg}
	fanIn := cfg.In * cfg.Kernel * cfg.Kernel
	bound := float32(1 / math.Sqrt(float64(fanIn)))
	l.W = newParam(name+".weight", Weight, uniform(rng, cfg.Out*fanIn, bound), cfg.Out, cfg.Kernel, cfg.Kernel, cfg.In)
	if !cfg.NoBias {
		l.B = newParam(name+".bias", Bias, uniform(rng, cfg.Out, bound), cfg.Out)
	}
	var err error
	if l.wq, err = buildQuantizer(cfg.Weights, name+".wq", ste.Target{Shape: []int{cfg.Out, cfg.Kernel, cfg.Kernel, cfg.In}, Role: ste.Weights, Init: l.W.Data()}); err != nil {
		return nil, err
	}
	if l.gq, err = buildQuantizer(cfg.Grads, name+".gq", ste.Target{Shape: []int{1, cfg.Out}, Role: ste.Inputs}); err != nil {
		return nil, err
	}
	l.W.Binary = ste.BitsFor(cfg.Weights, ste.Weights) == 1
	return l, nil
}

func (l *Conv2D) Name() string                                { return l.name }
func (l *Conv2D) Config() Conv2DConfig                        { return l.cfg }
func (l *Conv2D) Quantizers() (weights, inputs ste.Quantizer) { return l.wq.spec(), l.cfg.Inputs }

func (l *Conv2D) OutShape(in []int) ([]int, error) {
	if len(in) != 3 || in[2] != l.cfg.In {
		return nil, shapeErr(l.name, "input %v, want HWC with C=%d", in, l.cfg.In)
	}
	k, s, p := l.cfg.Kernel, l.cfg.Stride, l.cfg.Pad
	oh, ow := (in[0]+2*p-k)/s+1, (in[1]+2*p-k)/s+1
	if in[0]+2*p < k || in[1]+2*p < k {
		return nil, shapeErr(l.name, "input %v smaller than the %dx%d kernel", in, k, k)
	}
	// The input quantizer's size depends on the map size: build it on first sight.
	if l.iq == nil && l.cfg.Inputs != nil {
		var err error
		if l.iq, err = buildQuantizer(l.cfg.Inputs, l.name+".iq", ste.Target{Shape: append([]int{1}, in...), Role: ste.Inputs}); err != nil {
			return nil, err
		}
	}
	return []int{oh, ow, l.cfg.Out}, nil
}

func (l *Conv2D) Params() []*Param {
	ps := []*Param{l.W}
	if l.B != nil {
		ps = append(ps, l.B)
	}
	ps = append(ps, l.wq.paramList()...)
	ps = append(ps, l.gq.paramList()...)
	return append(ps, l.iq.paramList()...)
}

func (l *Conv2D) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	if l.iq == nil && l.cfg.Inputs != nil {
		if _, err := l.OutShape(x.Shape()[1:]); err != nil {
			return nil, err
		}
	}
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
	k := &convKernel{name: l.name, strideH: l.cfg.Stride, strideW: l.cfg.Stride, padH: l.cfg.Pad, padW: l.cfg.Pad, hasBias: l.B != nil, exact: newIntLinear(g, l.iq, l.wq)}
	return l.gq.applyOut(g, l.name, k, in...)
}

// States holds the gradient quantizer's noise counter, if any.
func (l *Conv2D) States() []State { return l.gq.counterState(l.name + ".gq.calls") }
