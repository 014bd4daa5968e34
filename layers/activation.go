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

// Activation is an elementwise function with its derivative.
type Activation struct {
	name string
	kind string
}

// ReLU is y = max(0, x), y' = 1{x > 0}.
func ReLU(name string) *Activation { return &Activation{name, "relu"} }

// HardTanh is y = clip(x, −1, 1), y' = 1{−1 < x < 1} (PyTorch's convention at the edges).
func HardTanh(name string) *Activation { return &Activation{name, "hardtanh"} }

func (l *Activation) Name() string                     { return l.name }
func (l *Activation) Kind() string                     { return l.kind }
func (l *Activation) Params() []*Param                 { return nil }
func (l *Activation) OutShape(in []int) ([]int, error) { return in, nil }
func (l *Activation) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	return graphop.Apply(&actKernel{l}, x)
}

type actKernel struct{ l *Activation }

func (k *actKernel) String() string { return k.l.name + ":" + k.l.kind }
func (k *actKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k *actKernel) DiffWRT(int) bool { return true }

func (k *actKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	x, y := in[0].Data, out.Data
	switch k.l.kind {
	case "relu":
		parallel.Rows(len(x), 1, func(_, lo, hi int) { vec.ReLU(y[lo:hi], x[lo:hi]) })
	case "hardtanh":
		parallel.Rows(len(x), 1, func(_, lo, hi int) { vec.Clip(y[lo:hi], x[lo:hi], -1, 1) })
	default:
		return fmt.Errorf("layers: unknown activation %q", k.l.kind)
	}
	return nil
}

// Backward is branch-free: the mask 1{x in the open range} multiplies g
// (data-dependent branches mispredict half the time on activations).
func (k *actKernel) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	x, dx, gd := in[0].Data, d.Data, g.Data
	lo, hi := float32(0), float32(math.Inf(1))
	if k.l.kind == "hardtanh" {
		lo, hi = -1, 1
	}
	parallel.Rows(len(x), 1, func(_, a, b int) { vec.KeepInside(dx[a:b], gd[a:b], x[a:b], lo, hi) })
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
