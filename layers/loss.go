package layers

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// CrossEntropy adds the mean softmax cross-entropy of logits [N,K] against
// labels [N] (class indices stored as float32) and returns the scalar loss:
//
//	L = −(1/N)·Σ_n log softmax(z_n)[y_n],   ∂L/∂z_n = (softmax(z_n) − onehot(y_n))/N
func CrossEntropy(logits, labels *gorgonia.Node) (*gorgonia.Node, error) {
	return graphop.Apply(&xentKernel{}, logits, labels)
}

type xentKernel struct {
	prob []float32 // softmax of the last forward pass
}

func (k *xentKernel) String() string { return "softmax-cross-entropy" }
func (k *xentKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 2 || in[1].TotalSize() != in[0][0] {
		return nil, shapeErr("loss", "logits %v, labels %v", in[0], in[1])
	}
	return tensor.Shape{}, nil
}

func (k *xentKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	z, y := in[0].Data, in[1].Data
	n := in[0].Shape[0]
	c := in[0].Shape[1]
	k.prob = grow(k.prob, len(z))
	var loss float64
	for r := 0; r < n; r++ {
		row := z[r*c : (r+1)*c]
		p := k.prob[r*c : (r+1)*c]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for j, v := range row {
			e := math.Exp(float64(v - m))
			p[j] = float32(e)
			s += e
		}
		for j := range p {
			p[j] = float32(float64(p[j]) / s)
		}
		lab := int(y[r])
		if lab < 0 || lab >= c || float32(lab) != y[r] {
			return fmt.Errorf("layers: loss: label %g of sample %d is not a class in [0,%d)", y[r], r, c)
		}
		loss += math.Log(s) - float64(row[lab]-m)
	}
	out.Data[0] = float32(loss / float64(n))
	return nil
}

func (k *xentKernel) DiffWRT(i int) bool { return i == 0 }

func (k *xentKernel) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	n, c := in[0].Shape[0], in[0].Shape[1]
	scale := g.Data[0] / float32(n)
	y := in[1].Data
	for r := 0; r < n; r++ {
		for j := 0; j < c; j++ {
			v := k.prob[r*c+j]
			if j == int(y[r]) {
				v--
			}
			d.Data[r*c+j] = v * scale
		}
	}
	return nil
}
