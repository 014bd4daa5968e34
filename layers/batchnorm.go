package layers

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// BatchNormConfig configures BatchNorm over the last (channel) axis.
type BatchNormConfig struct {
	C        int     // channels
	Eps      float32 // 0 means 1e-5
	Momentum float32 // running-average weight of the new batch; 0 means 0.1 (PyTorch)
	NoScale  bool    // fix γ = 1 (Larq's scale=False)
}

// BatchNorm normalises each channel (Ioffe & Szegedy 2015):
//
//	train: y = γ·(x − μ_B)/√(σ²_B + ε) + β,   running ← (1−m)·running + m·batch (unbiased σ²)
//	eval:  y = γ·(x − μ_run)/√(σ²_run + ε) + β
//
// Running statistics are kept in the layer, saved in checkpoints and used by eval graphs.
type BatchNorm struct {
	name        string
	cfg         BatchNormConfig
	Gamma, Beta *Param
	RunMean     []float32
	RunVar      []float32
}

// NewBatchNorm builds a BatchNorm layer with γ = 1, β = 0, running mean 0 and variance 1.
func NewBatchNorm(name string, cfg BatchNormConfig) (*BatchNorm, error) {
	if cfg.C <= 0 {
		return nil, shapeErr(name, "C=%d", cfg.C)
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-5
	}
	if cfg.Momentum == 0 {
		cfg.Momentum = 0.1
	}
	bn := &BatchNorm{name: name, cfg: cfg, RunMean: make([]float32, cfg.C), RunVar: make([]float32, cfg.C)}
	for i := range bn.RunVar {
		bn.RunVar[i] = 1
	}
	if !cfg.NoScale {
		g := make([]float32, cfg.C)
		for i := range g {
			g[i] = 1
		}
		bn.Gamma = newParam(name+".gamma", BNScale, g, cfg.C)
	}
	bn.Beta = newParam(name+".beta", BNShift, make([]float32, cfg.C), cfg.C)
	return bn, nil
}

func (l *BatchNorm) Name() string            { return l.name }
func (l *BatchNorm) Config() BatchNormConfig { return l.cfg }
func (l *BatchNorm) OutShape(in []int) ([]int, error) {
	if len(in) == 0 || in[len(in)-1] != l.cfg.C {
		return nil, shapeErr(l.name, "input %v, want %d channels last", in, l.cfg.C)
	}
	return in, nil
}

func (l *BatchNorm) Params() []*Param {
	if l.Gamma == nil {
		return []*Param{l.Beta}
	}
	return []*Param{l.Gamma, l.Beta}
}

func (l *BatchNorm) States() []State {
	return []State{{l.name + ".running_mean", l.RunMean}, {l.name + ".running_var", l.RunVar}}
}

// Scale returns γ (ones when NoScale).
func (l *BatchNorm) Scale() []float32 {
	if l.Gamma == nil {
		g := make([]float32, l.cfg.C)
		for i := range g {
			g[i] = 1
		}
		return g
	}
	return l.Gamma.Data()
}

func (l *BatchNorm) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	k := &bnKernel{name: l.name, layer: l, train: g.Train}
	in := []*gorgonia.Node{x}
	if l.Gamma != nil {
		in = append(in, g.Node(l.Gamma))
	}
	in = append(in, g.Node(l.Beta))
	return graphop.Apply(k, in...)
}

type bnKernel struct {
	name  string
	layer *BatchNorm
	train bool
	// from the last forward pass
	mean, invstd, xhat []float32
}

func (k *bnKernel) String() string {
	if k.train {
		return k.name + ":bn(train)"
	}
	return k.name + ":bn(eval)"
}

func (k *bnKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	c := k.layer.cfg.C
	if len(in[0]) == 0 || in[0][len(in[0])-1] != c {
		return nil, shapeErr(k.name, "input %v, want %d channels last", in[0], c)
	}
	return in[0].Clone(), nil
}

func (k *bnKernel) gamma(in []graphop.Tensor) []float32 {
	if k.layer.Gamma == nil {
		return nil
	}
	return in[1].Data
}

func (k *bnKernel) beta(in []graphop.Tensor) []float32 { return in[len(in)-1].Data }

func (k *bnKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	x := in[0].Data
	c := k.layer.cfg.C
	m := len(x) / c
	if m == 0 {
		return shapeErr(k.name, "empty input")
	}
	k.mean = grow(k.mean, c)
	k.invstd = grow(k.invstd, c)
	eps := float64(k.layer.cfg.Eps)
	if k.train {
		if m < 2 {
			return shapeErr(k.name, "batch statistics need more than one value per channel")
		}
		mean := make([]float64, c)
		sq := make([]float64, c)
		for r := 0; r < m; r++ {
			row := x[r*c : (r+1)*c]
			for j, v := range row {
				mean[j] += float64(v)
			}
		}
		for j := range mean {
			mean[j] /= float64(m)
		}
		for r := 0; r < m; r++ {
			row := x[r*c : (r+1)*c]
			for j, v := range row {
				d := float64(v) - mean[j]
				sq[j] += d * d
			}
		}
		mom := k.layer.cfg.Momentum
		for j := 0; j < c; j++ {
			v := sq[j] / float64(m)
			k.mean[j] = float32(mean[j])
			k.invstd[j] = float32(1 / math.Sqrt(v+eps))
			k.layer.RunMean[j] = (1-mom)*k.layer.RunMean[j] + mom*float32(mean[j])
			k.layer.RunVar[j] = (1-mom)*k.layer.RunVar[j] + mom*float32(sq[j]/float64(m-1))
		}
	} else {
		for j := 0; j < c; j++ {
			k.mean[j] = k.layer.RunMean[j]
			k.invstd[j] = float32(1 / math.Sqrt(float64(k.layer.RunVar[j])+eps))
		}
	}
	k.xhat = grow(k.xhat, len(x))
	gamma, beta := k.gamma(in), k.beta(in)
	y := out.Data
	for r := 0; r < m; r++ {
		o := r * c
		for j := 0; j < c; j++ {
			h := (x[o+j] - k.mean[j]) * k.invstd[j]
			k.xhat[o+j] = h
			if gamma != nil {
				h *= gamma[j]
			}
			y[o+j] = h + beta[j]
		}
	}
	return nil
}

func (k *bnKernel) DiffWRT(int) bool { return true }

// Backward. With x̂ = (x−μ)·s, s = 1/√(σ²+ε), dx̂ = g·γ:
//
//	train: dx = s/M·(M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))   (μ, σ² depend on x)
//	eval:  dx = dx̂·s
//	dγ = Σ g·x̂,  dβ = Σ g
func (k *bnKernel) Backward(wrt int, d graphop.Tensor, in []graphop.Tensor, _, gt graphop.Tensor) error {
	g := gt.Data
	c := k.layer.cfg.C
	m := len(g) / c
	gamma := k.gamma(in)
	isBeta := wrt == len(in)-1
	switch {
	case wrt == 0:
		if !k.train {
			for r := 0; r < m; r++ {
				o := r * c
				for j := 0; j < c; j++ {
					v := g[o+j] * k.invstd[j]
					if gamma != nil {
						v *= gamma[j]
					}
					d.Data[o+j] = v
				}
			}
			return nil
		}
		sum := make([]float64, c)
		dot := make([]float64, c)
		for r := 0; r < m; r++ {
			o := r * c
			for j := 0; j < c; j++ {
				sum[j] += float64(g[o+j])
				dot[j] += float64(g[o+j] * k.xhat[o+j])
			}
		}
		a := make([]float32, c)  // γ·s
		b1 := make([]float32, c) // mean of g
		b2 := make([]float32, c) // mean of g·x̂
		for j := 0; j < c; j++ {
			gj := float32(1)
			if gamma != nil {
				gj = gamma[j]
			}
			a[j] = gj * k.invstd[j]
			b1[j] = float32(sum[j] / float64(m))
			b2[j] = float32(dot[j] / float64(m))
		}
		for r := 0; r < m; r++ {
			o := r * c
			for j := 0; j < c; j++ {
				d.Data[o+j] = a[j] * (g[o+j] - b1[j] - k.xhat[o+j]*b2[j])
			}
		}
		return nil
	case isBeta:
		sumRows(d.Data, g, m, c)
		return nil
	case wrt == 1 && gamma != nil:
		acc := make([]float64, c)
		for r := 0; r < m; r++ {
			o := r * c
			for j := 0; j < c; j++ {
				acc[j] += float64(g[o+j] * k.xhat[o+j])
			}
		}
		for j := range acc {
			d.Data[j] = float32(acc[j])
		}
		return nil
	}
	return fmt.Errorf("layers: %s: no input %d", k.name, wrt)
}
