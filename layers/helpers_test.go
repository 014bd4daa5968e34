package layers_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/internal/graphoptest"
	"github.com/lowbit/lowbit/layers"
)

// variable is a tensor a gradient check differentiates: a graph input or a parameter.
type variable struct {
	name string
	node *gorgonia.Node
	data []float32 // the node's backing values, perturbed in place
}

func paramVar(g *layers.Graph, p *layers.Param) variable {
	return variable{p.Name, g.Node(p), p.Data()}
}

func inputVar(g *layers.Graph, name string, shape []int, data []float32) variable {
	n, t := g.Input(name, shape...)
	copy(t.Data().([]float32), data)
	return variable{name, n, t.Data().([]float32)}
}

func randSlice(rng *rand.Rand, n int, lo, hi float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = lo + (hi-lo)*rng.Float32()
	}
	return out
}

// Tolerances of the central-difference checks: the loss is a float32 computed
// in the graph, perturbed by h = 1e-2.
const (
	cdH    = 1e-2
	cdRTol = 1e-2
	cdATol = 1e-3
)

// checkGrads compares the graph's gradient of loss with respect to each
// variable with central differences of the loss recomputed through the graph.
func checkGrads(t *testing.T, g *layers.Graph, loss *gorgonia.Node, vars ...variable) {
	t.Helper()
	nodes := make(gorgonia.Nodes, len(vars))
	for i, v := range vars {
		nodes[i] = v.node
	}
	r, err := graphoptest.NewRunner(g.G, loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, grads, err := r.Run()
	if err != nil {
		t.Fatal(err)
	}
	f := func() (float64, error) {
		l, _, err := r.Run()
		return l, err
	}
	for i, v := range vars {
		num, err := graphoptest.CentralDiff(f, v.data, cdH)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for j := range num {
			if !graphoptest.Near(float64(grads[i][j]), num[j], cdRTol, cdATol) {
				if bad < 5 {
					t.Errorf("∂L/∂%s[%d] = %.5f, central difference %.5f", v.name, j, grads[i][j], num[j])
				}
				bad++
			}
		}
		if bad > 5 {
			t.Errorf("∂L/∂%s: %d of %d elements differ", v.name, bad, len(num))
		}
	}
}

// dotLoss adds L = Σ c·y with c drawn from rng.
func dotLoss(t *testing.T, y *gorgonia.Node, rng *rand.Rand) *gorgonia.Node {
	t.Helper()
	c := randSlice(rng, y.Shape().TotalSize(), -1, 1)
	l, err := graphoptest.Dot(y, c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// run executes g once and returns the node's values.
func run(t *testing.T, g *layers.Graph, out ...*gorgonia.Node) [][]float32 {
	t.Helper()
	vm := gorgonia.NewTapeMachine(g.G)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(out))
	for i, n := range out {
		res[i] = append([]float32(nil), n.Value().Data().([]float32)...)
	}
	return res
}

func assertClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			if bad < 5 {
				t.Errorf("%s[%d] = %g, want %g", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

// dotLossWith adds L = Σ c·y.
func dotLossWith(y *gorgonia.Node, c []float32) (*gorgonia.Node, error) {
	return graphoptest.Dot(y, c)
}

// runGrads runs g once and returns the values of outs and the gradients of loss.
func runGrads(t *testing.T, g *layers.Graph, loss *gorgonia.Node, vars []variable, outs ...*gorgonia.Node) (vals, grads [][]float32) {
	t.Helper()
	nodes := make(gorgonia.Nodes, len(vars))
	for i, v := range vars {
		nodes[i] = v.node
	}
	r, err := graphoptest.NewRunner(g.G, loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, grads, err = r.Run(); err != nil {
		t.Fatal(err)
	}
	for _, n := range outs {
		vals = append(vals, append([]float32(nil), n.Value().Data().([]float32)...))
	}
	return vals, grads
}

func abs64(v float32) float64 { return math.Abs(float64(v)) }

func roundHalfEven(v float64) float64 { return math.RoundToEven(v) }

func isShapeErr(err error) bool { return errors.Is(err, layers.ErrShape) }
