package layers

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/internal/graphoptest"
	"github.com/lowbit/lowbit/ste"
)

// gqLayer is a Conv2D or Dense with a gradient quantizer.
type gqLayer interface {
	Layer
	gradQ() **quantizer
	weights() []*Param
}

func (l *Conv2D) gradQ() **quantizer { return &l.gq }
func (l *Conv2D) weights() []*Param  { return []*Param{l.W, l.B} }
func (l *Dense) gradQ() **quantizer  { return &l.gq }
func (l *Dense) weights() []*Param   { return []*Param{l.W, l.B} }

// gqRun builds one graph of l on x, row 0 at row0, and returns the output and
// the gradients of a fixed dot loss with respect to x, W and B over three
// steps (the noise counter advancing). mode "fused" is Forward (the quantizer
// as the layer's gradient map), "node" the quantizer as its own identity node
// after the layer (the implementation before the gradient map), "none" no
// gradient quantizer.
func gqRun(t *testing.T, l gqLayer, mode string, shape []int, x []float32, row0 int) [][]float32 {
	t.Helper()
	g := NewGraph(true, nil)
	g.Row0 = row0
	xn, xt := g.Input("x", shape...)
	copy(xt.Data().([]float32), x)
	gq := l.gradQ()
	var y *gorgonia.Node
	var err error
	switch saved := *gq; mode {
	case "fused":
		y, err = l.Forward(g, xn)
	case "node", "none":
		*gq = nil
		y, err = l.Forward(g, xn)
		*gq = saved
		if err == nil && mode == "node" {
			y, err = saved.apply(g, l.Name()+".gq", y)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	c := make([]float32, y.Shape().TotalSize())
	for i := range c {
		c[i] = float32(rng.NormFloat64())
	}
	loss, err := graphoptest.Dot(y, c)
	if err != nil {
		t.Fatal(err)
	}
	wrt := gorgonia.Nodes{xn}
	for _, p := range l.weights() {
		wrt = append(wrt, g.Node(p))
	}
	r, err := graphoptest.NewRunner(g.G, loss, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]float32
	for range 3 {
		_, grads, err := r.Run()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float32(nil), y.Value().Data().([]float32)...))
		out = append(out, grads...)
	}
	return out
}

// TestGradMapExact checks that the DoReFa gradient quantizer as a layer's
// gradient map gives bit for bit the outputs and gradients of the same
// quantizer as its own identity node, over steps of its noise counter and at
// a data-parallel row offset, and that it does quantize (differs from none).
func TestGradMapExact(t *testing.T) {
	gq := ste.DoReFaGrad{Bits: 6, Seed: 11}
	cases := []struct {
		name  string
		shape []int
		row0  int
		build func(rng *rand.Rand) (gqLayer, error)
	}{
		{"conv", []int{3, 6, 5, 4}, 0, func(rng *rand.Rand) (gqLayer, error) {
			return NewConv2D("c", Conv2DConfig{In: 4, Out: 5, Kernel: 3, Pad: 1, Grads: gq}, rng)
		}},
		{"conv-row0", []int{2, 4, 4, 3}, 7, func(rng *rand.Rand) (gqLayer, error) {
			return NewConv2D("c", Conv2DConfig{In: 3, Out: 8, Kernel: 3, Stride: 2, Pad: 1, Grads: gq}, rng)
		}},
		{"dense", []int{4, 30}, 0, func(rng *rand.Rand) (gqLayer, error) {
			return NewDense("d", DenseConfig{In: 30, Out: 700, Grads: gq}, rng)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runs := map[string][][]float32{}
			for _, mode := range []string{"fused", "node", "none"} {
				l, err := tc.build(rand.New(rand.NewPCG(1, 2)))
				if err != nil {
					t.Fatal(err)
				}
				x := make([]float32, prod(tc.shape))
				rng := rand.New(rand.NewPCG(3, 4))
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				runs[mode] = gqRun(t, l, mode, tc.shape, x, tc.row0)
			}
			for i, want := range runs["node"] {
				if !bitsEqual(runs["fused"][i], want) {
					t.Errorf("value %d (step %d): fused differs from the identity node", i, i/4)
				}
			}
			if bitsEqual(runs["fused"][1], runs["none"][1]) {
				t.Error("∂x with the gradient quantizer equals ∂x without it")
			}
			if bitsEqual(runs["fused"][1], runs["fused"][5]) {
				t.Error("∂x did not change between steps: the noise counter did not advance")
			}
		})
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}
