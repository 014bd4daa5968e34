package layers

import (
	"fmt"
	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/vec"
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
	return []State{{Name: l.name + ".running_mean", Data: l.RunMean}, {Name: l.name + ".running_var", Data: l.RunVar}}
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
	if g.Train {
		k.sync, k.first = g.SyncBN, g.Row0 == 0
	}
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
	// sync sums a buffer over the ranks of a data-parallel run (-sync-bn): the
	// batch statistics are then those of the global batch of rows rows.
	sync  func([]float32) error
	first bool // this rank holds the global batch's first row
	rows  int
	// from the last forward pass: per-channel mean and 1/√(σ²+ε) (batch or running)
	mean, invstd []float32
	gen          uint64 // forward passes so far
	// Σg and Σg·x̂ per channel, shared by the three gradients of one backward pass
	sumG, sumGX     []float32
	sumG64, sumGX64 []float64 // the same in float64, for sync-bn
	sumGen          uint64
	sumSrc          *float32
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

// channelSums returns per-channel Σ f(row) over rows, computed in parallel with
// float32 partial sums over blocks of rows and float64 totals.
func channelSums(m, c int, acc func(dst1, dst2 []float32, lo, hi int)) (s1, s2 []float64) {
	const block = 128
	var parts [parallel.MaxParts][2][]float64
	n := parallel.Rows(m, c, func(p, lo, hi int) {
		t1, t2 := make([]float64, c), make([]float64, c)
		b1, b2 := make([]float32, c), make([]float32, c)
		for r := lo; r < hi; r += block {
			clear(b1)
			clear(b2)
			acc(b1, b2, r, min(hi, r+block))
			for j := range b1 {
				t1[j] += float64(b1[j])
				t2[j] += float64(b2[j])
			}
		}
		parts[p] = [2][]float64{t1, t2}
	})
	s1, s2 = parts[0][0], parts[0][1]
	for p := 1; p < n; p++ {
		for j := range s1 {
			s1[j] += parts[p][0][j]
			s2[j] += parts[p][1][j]
		}
	}
	return s1, s2
}

func (k *bnKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	x := in[0].Data
	c := k.layer.cfg.C
	m := len(x) / c
	if m == 0 {
		return shapeErr(k.name, "empty input")
	}
	k.gen++
	k.mean = grow(k.mean, c)
	k.invstd = grow(k.invstd, c)
	eps := float64(k.layer.cfg.Eps)
	if k.train {
		if m < 2 {
			return shapeErr(k.name, "batch statistics need more than one value per channel")
		}
		// Shift by the first row so that E[(x−s)²] − E[x−s]² does not cancel.
		shift := x[:c]
		s1, s2 := channelSums(m, c, func(d1, d2 []float32, lo, hi int) {
			vec.ChannelSums(d1, d2, x[lo*c:hi*c], shift)
		})
		k.rows = m
		if k.sync != nil {
			var err error
			if shift, s1, s2, err = k.syncStats(x, s1, s2, m); err != nil {
				return err
			}
		}
		mom, rows := k.layer.cfg.Momentum, float64(k.rows)
		for j := 0; j < c; j++ {
			mu := s1[j] / rows
			v := max(s2[j]/rows-mu*mu, 0)
			mean := mu + float64(shift[j])
			k.mean[j] = float32(mean)
			k.invstd[j] = float32(1 / math.Sqrt(v+eps))
			k.layer.RunMean[j] = (1-mom)*k.layer.RunMean[j] + mom*float32(mean)
			k.layer.RunVar[j] = (1-mom)*k.layer.RunVar[j] + mom*float32(v*rows/(rows-1))
		}
	} else {
		for j := 0; j < c; j++ {
			k.mean[j] = k.layer.RunMean[j]
			k.invstd[j] = float32(1 / math.Sqrt(float64(k.layer.RunVar[j])+eps))
		}
	}
	// y = γ·(x−μ)·s + β = x·a + b with a = γ·s, b = β − μ·a.
	gamma, beta := k.gamma(in), k.beta(in)
	a, b := make([]float32, c), make([]float32, c)
	for j := range a {
		a[j] = k.invstd[j]
		if gamma != nil {
			a[j] *= gamma[j]
		}
		b[j] = beta[j] - k.mean[j]*a[j]
	}
	y := out.Data
	// The product is rounded before the add (no FMA), as the packed engine computes it.
	parallel.Rows(m, c, func(_, lo, hi int) { vec.ScaleShift(y[lo*c:hi*c], x[lo*c:hi*c], a, b) })
	return nil
}

// syncStats returns the global batch's per-channel shift and sums Σ(x−x₀), Σ(x−x₀)²
// in one process's way: x₀ is the first row of the global batch (rank 0's, sent as
// a sum to which the other ranks add zeros), so a channel constant over the batch
// gets exactly its value as mean and exactly 0 as x−μ. It sets k.rows to the global count.
func (k *bnKernel) syncStats(x []float32, s1, s2 []float64, m int) (shift []float32, t1, t2 []float64, err error) {
	c := k.layer.cfg.C
	shift = make([]float32, c)
	if k.first {
		copy(shift, x[:c])
	}
	if err := k.sync(shift); err != nil {
		return nil, nil, nil, fmt.Errorf("layers: %s: sync-bn: %w", k.name, err)
	}
	if !k.first {
		s1, s2 = channelSums(m, c, func(d1, d2 []float32, lo, hi int) {
			vec.ChannelSums(d1, d2, x[lo*c:hi*c], shift)
		})
	}
	// Each float64 sum travels as float32 high and low parts, which keeps
	// about 48 bits of it: the statistics stay those of one process.
	buf := make([]float32, 4*c+1)
	for j := range c {
		buf[j], buf[c+j] = split64(s1[j])
		buf[2*c+j], buf[3*c+j] = split64(s2[j])
	}
	buf[4*c] = float32(m)
	if err := k.sync(buf); err != nil {
		return nil, nil, nil, fmt.Errorf("layers: %s: sync-bn: %w", k.name, err)
	}
	rows := buf[4*c]
	if !(rows >= 2) || rows > 1<<24 {
		return nil, nil, nil, shapeErr(k.name, "sync-bn: global batch of %v rows", rows)
	}
	t1, t2 = make([]float64, c), make([]float64, c)
	for j := range c {
		t1[j] = float64(buf[j]) + float64(buf[c+j])
		t2[j] = float64(buf[2*c+j]) + float64(buf[3*c+j])
	}
	k.rows = int(rows)
	return shift, t1, t2, nil
}

// split64 returns v's float32 rounding and the float32 rounding of the rest.
func split64(v float64) (hi, lo float32) {
	hi = float32(v)
	return hi, float32(v - float64(hi))
}

// syncSums returns Σg and Σg·x̂ over the global batch (sync-bn) from this rank's
// float64 sums, sent as float32 high and low parts (see syncStats).
func (k *bnKernel) syncSums() (gsg, gsgx []float32, err error) {
	c := len(k.sumG64)
	buf := make([]float32, 4*c)
	for j := range c {
		buf[j], buf[c+j] = split64(k.sumG64[j])
		buf[2*c+j], buf[3*c+j] = split64(k.sumGX64[j])
	}
	if err := k.sync(buf); err != nil {
		return nil, nil, fmt.Errorf("layers: %s: sync-bn: %w", k.name, err)
	}
	gsg, gsgx = make([]float32, c), make([]float32, c)
	for j := range c {
		gsg[j] = float32(float64(buf[j]) + float64(buf[c+j]))
		gsgx[j] = float32(float64(buf[2*c+j]) + float64(buf[3*c+j]))
	}
	return gsg, gsgx, nil
}

func (k *bnKernel) DiffWRT(int) bool { return true }

// sums returns Σg and Σg·x̂ per channel for this backward pass, computing them once.
func (k *bnKernel) sums(x, g []float32) (sg, sgx []float32) {
	c := k.layer.cfg.C
	if k.sumGen == k.gen && k.sumSrc == &g[0] {
		return k.sumG, k.sumGX
	}
	mean, invstd := k.mean, k.invstd
	s1, s2 := channelSums(len(x)/c, c, func(d1, d2 []float32, lo, hi int) {
		vec.ChannelGradSums(d1, d2, g[lo*c:hi*c], x[lo*c:hi*c], mean, invstd)
	})
	k.sumG, k.sumGX = grow(k.sumG, c), grow(k.sumGX, c)
	for j := range s1 {
		k.sumG[j], k.sumGX[j] = float32(s1[j]), float32(s2[j])
	}
	k.sumG64, k.sumGX64 = s1, s2
	k.sumGen, k.sumSrc = k.gen, &g[0]
	return k.sumG, k.sumGX
}

// Backward. With x̂ = (x−μ)·s, s = 1/√(σ²+ε):
//
//	train: dx = γ·s·(g − mean(g) − x̂·mean(g·x̂))   (μ, σ² depend on x)
//	eval:  dx = γ·s·g
//	dγ = Σ g·x̂,  dβ = Σ g
func (k *bnKernel) Backward(wrt int, d graphop.Tensor, in []graphop.Tensor, _, gt graphop.Tensor) error {
	x, g := in[0].Data, gt.Data
	c := k.layer.cfg.C
	m := len(g) / c
	gamma := k.gamma(in)
	switch {
	case wrt == 0:
		a := make([]float32, c)
		b1 := make([]float32, c)
		b2 := make([]float32, c)
		for j := range a {
			a[j] = k.invstd[j]
			if gamma != nil {
				a[j] *= gamma[j]
			}
		}
		if k.train {
			sg, sgx := k.sums(x, g)
			rows := m
			if k.sync != nil {
				// dx needs the global sums; dγ and dβ stay this rank's (the
				// gradient allreduce adds them up).
				var err error
				if sg, sgx, err = k.syncSums(); err != nil {
					return err
				}
				rows = k.rows
			}
			for j := range b1 {
				b1[j] = sg[j] / float32(rows)
				b2[j] = sgx[j] / float32(rows)
			}
		}
		mean, invstd, dx := k.mean, k.invstd, d.Data
		parallel.Rows(m, c, func(_, lo, hi int) {
			vec.BNBackward(dx[lo*c:hi*c], g[lo*c:hi*c], x[lo*c:hi*c], a, b1, b2, mean, invstd)
		})
		return nil
	case wrt == len(in)-1:
		sg, _ := k.sums(x, g)
		copy(d.Data, sg)
		return nil
	case wrt == 1 && gamma != nil:
		_, sgx := k.sums(x, g)
		copy(d.Data, sgx)
		return nil
	}
	return fmt.Errorf("layers: %s: no input %d", k.name, wrt)
}
