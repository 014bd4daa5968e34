package layers

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// Flatten reshapes [N, H, W, C] to [N, H·W·C] (NHWC order).
type Flatten struct{ name string }

// NewFlatten builds a Flatten layer.
func NewFlatten(name string) *Flatten { return &Flatten{name} }

func (l *Flatten) Name() string                     { return l.name }
func (l *Flatten) Params() []*Param                 { return nil }
func (l *Flatten) OutShape(in []int) ([]int, error) { return []int{prod(in)}, nil }
func (l *Flatten) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() == 2 {
		return x, nil
	}
	return graphop.Apply(flattenKernel{l.name}, x)
}

type flattenKernel struct{ name string }

func (k flattenKernel) String() string { return k.name + ":flatten" }
func (k flattenKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) < 1 {
		return nil, shapeErr(k.name, "scalar input")
	}
	return tensor.Shape{in[0][0], prod(in[0][1:])}, nil
}
func (k flattenKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	copy(out.Data, in[0].Data)
	return nil
}
func (k flattenKernel) DiffWRT(int) bool { return true }
func (k flattenKernel) Backward(_ int, d graphop.Tensor, _ []graphop.Tensor, _, g graphop.Tensor) error {
	copy(d.Data, g.Data)
	return nil
}

// addKernel sums two tensors of the same shape (residual connections).
type addKernel struct{ name string }

func (k addKernel) String() string { return k.name + ":add" }
func (k addKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[1]) {
		return nil, shapeErr(k.name, "adding %v and %v", in[0], in[1])
	}
	return in[0].Clone(), nil
}
func (k addKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	a, b := in[0].Data, in[1].Data
	for i := range out.Data {
		out.Data[i] = a[i] + b[i]
	}
	return nil
}
func (k addKernel) DiffWRT(int) bool { return true }
func (k addKernel) Backward(_ int, d graphop.Tensor, _ []graphop.Tensor, _, g graphop.Tensor) error {
	copy(d.Data, g.Data)
	return nil
}

// Add returns a + b as a node (used by residual blocks).
func Add(name string, a, b *gorgonia.Node) (*gorgonia.Node, error) {
	return graphop.Apply(addKernel{name}, a, b)
}

// Dropout zeroes each value with probability P during training and scales the
// rest by 1/(1−P); evaluation graphs pass x through. The mask of step t comes
// from a PCG seeded with (Seed, t), so runs and resumed runs draw the same masks.
type Dropout struct {
	name string
	P    float32
	Seed uint64
}

// NewDropout builds a Dropout layer.
func NewDropout(name string, p float32, seed uint64) (*Dropout, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("layers: %s: dropout probability %g not in [0,1)", name, p)
	}
	return &Dropout{name: name, P: p, Seed: seed}, nil
}

func (l *Dropout) Name() string                     { return l.name }
func (l *Dropout) Params() []*Param                 { return nil }
func (l *Dropout) OutShape(in []int) ([]int, error) { return in, nil }
func (l *Dropout) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	if !g.Train || l.P == 0 {
		return x, nil
	}
	return graphop.Apply(&dropoutKernel{l: l, step: g.Step}, x)
}

type dropoutKernel struct {
	l    *Dropout
	step *uint64
	mask []float32
}

func (k *dropoutKernel) String() string { return fmt.Sprintf("%s:dropout(%g)", k.l.name, k.l.P) }
func (k *dropoutKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k *dropoutKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	rng := rand.New(rand.NewPCG(k.l.Seed, *k.step))
	k.mask = grow(k.mask, len(out.Data))
	keep := 1 / (1 - k.l.P)
	for i, v := range in[0].Data {
		if rng.Float32() < k.l.P {
			k.mask[i] = 0
		} else {
			k.mask[i] = keep
		}
		out.Data[i] = v * k.mask[i]
	}
	return nil
}
func (k *dropoutKernel) DiffWRT(int) bool { return true }
func (k *dropoutKernel) Backward(_ int, d graphop.Tensor, _ []graphop.Tensor, _, g graphop.Tensor) error {
	for i, v := range g.Data {
		d.Data[i] = v * k.mask[i]
	}
	return nil
}
