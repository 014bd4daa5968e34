package recipes

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// Net is a model compiled into one Gorgonia graph for a fixed batch size:
// a training graph (loss and gradients) or an evaluation graph (logits and loss,
// BatchNorm running statistics). Graphs of the same model share weight values.
type Net struct {
	Model *models.Model
	Graph *layers.Graph
	Batch int

	// Shared is how the graph's op outputs share memory (layers.Graph.ShareBuffers):
	// only Logits, Loss and Grads may be read after Run.
	Shared layers.ShareStats

	x, y         *tensor.Dense
	logits, loss *gorgonia.Node
	params       []*layers.Param
	grads        gorgonia.Nodes
	vm           gorgonia.VM
}

// shareBuffers lets a Net's op outputs share memory; tests turn it off to
// compare against one buffer per output.
var shareBuffers = true

// NewNet compiles m for batches of the given size. step is the global step counter
// the training graph's Dropout reads (nil for evaluation).
func NewNet(m *models.Model, batch int, train bool, step *uint64) (*Net, error) {
	return newNet(m, batch, train, step, nil, shareBuffers)
}

// NewInspectNet compiles m's evaluation graph for batches of the given size
// with a buffer of its own for every node, so that each layer's value can be
// read from its graph node after Run (per-layer comparisons, debugging).
// NewNet's nets let nodes whose values are never alive together share
// memory, which overwrites intermediate values. The logits are the same.
func NewInspectNet(m *models.Model, batch int) (*Net, error) {
	return newNet(m, batch, false, nil, nil, false)
}

// newNet is NewNet with a hook that sets up the graph before the model is added
// (a data-parallel rank's Row0 and SyncBN).
func newNet(m *models.Model, batch int, train bool, step *uint64, setup func(*layers.Graph), share bool) (*Net, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("recipes: batch size %d", batch)
	}
	g := layers.NewGraph(train, step)
	if setup != nil {
		setup(g)
	}
	shape := append([]int{batch}, m.Spec.Input...)
	xn, xt := g.Input("x", shape...)
	yn, yt := g.Input("labels", batch)
	logits, err := m.Forward(g, xn)
	if err != nil {
		return nil, err
	}
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("recipes: %s: logits have shape %v, want [batch classes]", m.Spec.Name, logits.Shape())
	}
	loss, err := layers.CrossEntropy(logits, yn)
	if err != nil {
		return nil, err
	}
	n := &Net{Model: m, Graph: g, Batch: batch, x: xt, y: yt, logits: logits, loss: loss}
	if train {
		var nodes gorgonia.Nodes
		n.params, nodes = g.Params()
		if n.grads, err = gorgonia.Grad(loss, nodes...); err != nil {
			return nil, fmt.Errorf("recipes: gradients of %s: %w", m.Spec.Name, err)
		}
	}
	keep := append(gorgonia.Nodes{logits, loss}, n.grads...)
	if share {
		if n.Shared, err = g.ShareBuffers(keep...); err != nil {
			return nil, fmt.Errorf("recipes: %s: %w", m.Spec.Name, err)
		}
	}
	// The machine runs only what the logits, the loss and the parameter
	// gradients need. Grad adds a gradient for every differentiable input
	// of every op, the first layer's input image included, and a machine
	// on the whole graph computes it: a ResNet-18 step spent 60 of its
	// 1960 ms on the input gradient of its first conv.
	n.vm = gorgonia.NewTapeMachine(g.G.ExactSubgraphRoots(keep...))
	return n, nil
}

// Run computes the batch: x holds n ≤ Batch examples (NHWC), y their labels. Missing
// rows are zero-filled; they change nothing in evaluation graphs but would in training,
// so training runs must pass full batches.
func (n *Net) Run(x []float32, y []int32, count int) error {
	n.vm.Reset()
	per := len(n.x.Data().([]float32)) / n.Batch
	if count > n.Batch || len(x) < count*per || len(y) < count {
		return fmt.Errorf("recipes: batch of %d examples (%d values) for a graph of %d", count, len(x), n.Batch)
	}
	xd := n.x.Data().([]float32)
	copy(xd, x[:count*per])
	clear(xd[count*per:])
	for i, l := range y[:count] {
		if l < 0 || int(l) >= n.Model.Spec.Classes {
			return fmt.Errorf("recipes: label %d of example %d is outside the %d classes of model %s", l, i, n.Model.Spec.Classes, n.Model.Spec.Name)
		}
	}
	yd := n.y.Data().([]float32)
	for i := range yd {
		if i < count {
			yd[i] = float32(y[i])
		} else {
			yd[i] = 0
		}
	}
	if err := n.vm.RunAll(); err != nil {
		return fmt.Errorf("recipes: %s: %w", n.Model.Spec.Name, err)
	}
	return nil
}

// Loss is the mean loss of the last Run (over all Batch rows).
func (n *Net) Loss() float32 {
	v, _ := n.loss.Value().Data().(float32)
	return v
}

// Logits returns the last Run's logits, [Batch][classes].
func (n *Net) Logits() []float32 { return n.logits.Value().Data().([]float32) }

// Params lists the trained parameters (training graphs), in Grads order.
func (n *Net) Params() []*layers.Param { return n.params }

// Grads returns the gradient of each of Params from the last Run.
func (n *Net) Grads() [][]float32 {
	out := make([][]float32, len(n.grads))
	for i, g := range n.grads {
		out[i] = g.Value().Data().([]float32)
	}
	return out
}

// Close releases the machine.
func (n *Net) Close() error { return n.vm.Close() }

// Correct counts rows among the first count whose argmax equals the label,
// and accumulates the per-row losses' sum.
func Correct(logits []float32, classes int, y []int32, count int) (correct int, lossSum float64) {
	for r := 0; r < count; r++ {
		row := logits[r*classes : (r+1)*classes]
		best := 0
		m := row[0]
		for j, v := range row {
			if v > row[best] {
				best = j
			}
			m = max(m, v)
		}
		if best == int(y[r]) {
			correct++
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - m))
		}
		lossSum += math.Log(s) - float64(row[y[r]]-m)
	}
	return correct, lossSum
}
