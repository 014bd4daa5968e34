package layers

import (
	"fmt"

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
	y := out.Data
	switch k.l.kind {
	case "relu":
		for i, v := range in[0].Data {
			y[i] = max(v, 0)
		}
	case "hardtanh":
		for i, v := range in[0].Data {
			y[i] = min(max(v, -1), 1)
		}
	default:
		return fmt.Errorf("layers: unknown activation %q", k.l.kind)
	}
	return nil
}

func (k *actKernel) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	x, dx := in[0].Data, d.Data
	switch k.l.kind {
	case "relu":
		for i, v := range x {
			if v > 0 {
				dx[i] = g.Data[i]
			} else {
				dx[i] = 0
			}
		}
	case "hardtanh":
		for i, v := range x {
			if v > -1 && v < 1 {
				dx[i] = g.Data[i]
			} else {
				dx[i] = 0
			}
		}
	}
	return nil
}
