package layers_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/layers"
)

// TestTrainEvalShareWeights builds a train and an eval graph of the same model:
// a weight written once is seen by both.
func TestTrainEvalShareWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	fc, err := layers.NewDense("fc", layers.DenseConfig{In: 3, Out: 2}, rng)
	if err != nil {
		t.Fatal(err)
	}
	bn, err := layers.NewBatchNorm("bn", layers.BatchNormConfig{C: 2})
	if err != nil {
		t.Fatal(err)
	}
	model := layers.NewSequential("m", fc, bn)
	xs := randSlice(rng, 4*3, -1, 1)
	build := func(train bool) (*layers.Graph, *gorgonia.Node, gorgonia.VM) {
		g := layers.NewGraph(train, nil)
		x := inputVar(g, "x", []int{4, 3}, xs)
		y, err := model.Forward(g, x.node)
		if err != nil {
			t.Fatal(err)
		}
		return g, y, gorgonia.NewTapeMachine(g.G)
	}
	gt, yt, vmt := build(true)
	defer vmt.Close()
	ge, ye, vme := build(false)
	defer vme.Close()
	for _, g := range []*layers.Graph{gt, ge} {
		checkGraphParams(t, g, model)
	}
	runBoth := func() (train, eval []float32) {
		for _, vm := range []gorgonia.VM{vmt, vme} {
			vm.Reset()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
		}
		return slices.Clone(yt.Value().Data().([]float32)), slices.Clone(ye.Value().Data().([]float32))
	}
	t1, _ := runBoth()
	fc.W.Data()[0] += 0.5
	fc.B.Data()[1] -= 0.25
	bn.Gamma.Data()[0] = 3
	bn.Beta.Data()[1] = -2
	t2, e2 := runBoth()
	if slices.Equal(t1, t2) {
		t.Errorf("the train graph did not see the new weights")
	}
	h := denseRef(xs, fc, 4)
	// Eval: y = γ·(h − μ_run)/√(σ²_run + ε) + β with h = x·Wᵀ + b.
	evalWant := make([]float64, len(h))
	for i, v := range h {
		o := i % 2
		evalWant[i] = float64(bn.Gamma.Data()[o])*(float64(v)-float64(bn.RunMean[o]))/math.Sqrt(float64(bn.RunVar[o])+1e-5) + float64(bn.Beta.Data()[o])
	}
	assertClose(t, "eval y", e2, evalWant, 1e-5)
	// Train: the same with batch statistics of h.
	mean, biased, _ := batchStats(h, 2)
	assertClose(t, "train y", t2, naiveBN(h, 2, mean, biased, bn.Gamma.Data(), bn.Beta.Data(), 1e-5), 1e-4)
}

// checkGraphParams checks that g's parameters are model's and that their
// nodes hold the layers' tensors.
func checkGraphParams(t *testing.T, g *layers.Graph, model layers.Layer) {
	t.Helper()
	ps, nodes := g.Params()
	if want := model.Params(); !slices.Equal(ps, want) || len(nodes) != len(ps) {
		t.Errorf("Params() = %v, want %v", ps, want)
	}
	for i, p := range ps {
		if nodes[i] != g.Node(p) || nodes[i].Value() != gorgonia.Value(p.Value) {
			t.Errorf("node of %s does not hold the layer's tensor", p.Name)
		}
	}
}

// denseRef is x·Wᵀ + b for rows rows of x, in float32 like the graph.
func denseRef(xs []float32, fc *layers.Dense, rows int) []float32 {
	in, out := len(xs)/rows, len(fc.B.Data())
	h := make([]float32, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			v := fc.B.Data()[o]
			for i := 0; i < in; i++ {
				v += xs[r*in+i] * fc.W.Data()[o*in+i]
			}
			h[r*out+o] = v
		}
	}
	return h
}

func TestDropout(t *testing.T) {
	if _, err := layers.NewDropout("d", 1, 1); err == nil {
		t.Error("p = 1: no error")
	}
	if _, err := layers.NewDropout("d", -0.1, 1); err == nil {
		t.Error("p < 0: no error")
	}
	const p, n = 0.3, 20000
	d, err := layers.NewDropout("d", p, 99)
	if err != nil {
		t.Fatal(err)
	}
	var step uint64 = 5
	g := layers.NewGraph(true, &step)
	x := inputVar(g, "x", []int{n / 10, 10}, randSlice(rand.New(rand.NewPCG(1, 2)), n, 0.5, 1.5))
	y, err := d.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	c := randSlice(rand.New(rand.NewPCG(3, 4)), n, -1, 1)
	loss, err := dotLossWith(y, c)
	if err != nil {
		t.Fatal(err)
	}
	masks := map[uint64][]float32{}
	for _, s := range []uint64{5, 6, 5} {
		step = s
		vals, grads := runGrads(t, g, loss, []variable{x}, y)
		mask, kept := dropoutMask(t, vals[0], grads[0], x.data, c, p)
		// Keep rate 1−p within 5 standard deviations (√(p(1−p)/n) ≈ 0.0032).
		if rate := float64(kept) / n; math.Abs(rate-(1-p)) > 0.017 {
			t.Errorf("step %d: keep rate %.4f, want %.2f", s, rate, 1-p)
		}
		if prev, ok := masks[s]; ok && !slices.Equal(prev, mask) {
			t.Errorf("step %d: the mask changed between runs", s)
		}
		masks[s] = mask
	}
	if slices.Equal(masks[5], masks[6]) {
		t.Error("steps 5 and 6 drew the same mask")
	}
	// The same seed and step in another graph give the same mask.
	step2 := uint64(6)
	g2 := layers.NewGraph(true, &step2)
	x2 := inputVar(g2, "x", []int{n / 10, 10}, x.data)
	y2, err := d.Forward(g2, x2.node)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, g2, y2)[0]; !slices.Equal(got, mulF32(x.data, masks[6])) {
		t.Fatal("another graph at step 6 drew another mask")
	}
	// Evaluation graphs, and p = 0, pass x through.
	eval := layers.NewGraph(false, nil)
	xe, _ := eval.Input("x", 4, 3)
	if ye, err := d.Forward(eval, xe); err != nil || ye != xe {
		t.Errorf("eval Forward = %v, %v; want the input node", ye, err)
	}
	d0, _ := layers.NewDropout("d0", 0, 1)
	if y0, err := d0.Forward(g, x.node); err != nil || y0 != x.node {
		t.Errorf("p = 0 Forward = %v, %v; want the input node", y0, err)
	}
}

// dropoutMask returns y/x and how many values were kept, checking that
// every value is dropped (no gradient) or scaled by 1/(1−p) (gradient
// c/(1−p) of the loss Σ c·y).
func dropoutMask(t *testing.T, y, grad, x, c []float32, p float64) ([]float32, int) {
	t.Helper()
	mask := make([]float32, len(y))
	kept := 0
	for i, v := range y {
		mask[i] = v / x[i]
		switch {
		case v == 0:
			if grad[i] != 0 {
				t.Fatalf("dropped value %d has gradient %g", i, grad[i])
			}
		case math.Abs(float64(mask[i])-1/(1-p)) < 1e-5:
			kept++
			if !nearF32(grad[i], c[i]/float32(1-p)) {
				t.Fatalf("kept value %d has gradient %g, want %g", i, grad[i], c[i]/float32(1-p))
			}
		default:
			t.Fatalf("y/x = %g at %d, want 0 or 1/(1−p)", mask[i], i)
		}
	}
	return mask, kept
}

func mulF32(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] * b[i]
	}
	return out
}

func nearF32(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 1e-6*math.Max(1, math.Abs(float64(b)))
}

func TestFlattenAddResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	g := layers.NewGraph(true, nil)
	x := inputVar(g, "x", []int{2, 2, 3, 2}, randSlice(rng, 24, -2, 2))
	f := layers.NewFlatten("flat")
	if s, _ := f.OutShape([]int{2, 3, 2}); !slices.Equal(s, []int{12}) {
		t.Errorf("Flatten.OutShape = %v, want [12]", s)
	}
	fy, err := f.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	if s := fy.Shape(); s[0] != 2 || s[1] != 12 {
		t.Errorf("flatten shape %v, want [2 12]", s)
	}
	if same, err := f.Forward(g, fy); err != nil || same != fy {
		t.Errorf("flatten of a matrix = %v, %v; want the input node", same, err)
	}
	// Residual: relu(x) + x, through Add; ∂/∂x = 1{x>0} + 1.
	res := layers.NewResidual("res", layers.ReLU("relu"), nil)
	ry, err := res.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := layers.Add("sum", ry, x.node) // x is used three times
	if err != nil {
		t.Fatal(err)
	}
	c := randSlice(rng, 24, -1, 1)
	loss, err := dotLossWith(sum, c)
	if err != nil {
		t.Fatal(err)
	}
	vals, grads := runGrads(t, g, loss, []variable{x}, fy, sum)
	wantFlat, wantSum, wantDX := make([]float64, 24), make([]float64, 24), make([]float64, 24)
	for i, v := range x.data {
		wantFlat[i] = float64(v)
		wantSum[i] = float64(max(v, 0) + 2*v)
		wantDX[i] = 2 * float64(c[i])
		if v > 0 {
			wantDX[i] += float64(c[i])
		}
	}
	assertClose(t, "flatten", vals[0], wantFlat, 0)
	assertClose(t, "relu(x)+x+x", vals[1], wantSum, 1e-6)
	assertClose(t, "∂L/∂x", grads[0], wantDX, 1e-6)

	other, _ := g.Input("o", 2, 2, 3, 1)
	if _, err := layers.Add("bad", x.node, other); !errors.Is(err, layers.ErrShape) {
		t.Errorf("Add of mismatched shapes: error %v, want ErrShape", err)
	}
	conv, err := layers.NewConv2D("c", layers.Conv2DConfig{In: 2, Out: 3, Kernel: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := layers.NewResidual("r", conv, nil).OutShape([]int{3, 2, 2}); !errors.Is(err, layers.ErrShape) {
		t.Errorf("residual with mismatched body: error %v, want ErrShape", err)
	}
	if _, err := layers.NewResidual("r", conv, nil).Forward(g, x.node); !errors.Is(err, layers.ErrShape) {
		t.Errorf("residual Forward with mismatched body: error %v, want ErrShape", err)
	}
}

func TestSequentialOutShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	conv, _ := layers.NewConv2D("c1", layers.Conv2DConfig{In: 1, Out: 4, Kernel: 3, Pad: 1}, rng)
	bn, _ := layers.NewBatchNorm("bn", layers.BatchNormConfig{C: 4})
	fc, _ := layers.NewDense("fc", layers.DenseConfig{In: 4 * 4 * 4, Out: 10}, rng)
	m := layers.NewSequential("m", conv, bn, layers.ReLU("r"), layers.MaxPool("p", layers.PoolConfig{}), layers.NewFlatten("f"), fc)
	s, err := m.OutShape([]int{8, 8, 1})
	if err != nil || !slices.Equal(s, []int{10}) {
		t.Errorf("OutShape = %v, %v; want [10]", s, err)
	}
	if _, err := m.OutShape([]int{6, 6, 1}); !errors.Is(err, layers.ErrShape) {
		t.Errorf("OutShape on 6×6: error %v, want ErrShape", err)
	}
	var names []string
	layers.Walk(m, func(l layers.Layer) { names = append(names, l.Name()) })
	if want := []string{"m", "c1", "bn", "r", "p", "f", "fc"}; !slices.Equal(names, want) {
		t.Errorf("Walk = %v, want %v", names, want)
	}
	if st := layers.States(m); len(st) != 2 {
		t.Errorf("States = %v, want bn's two", st)
	}
	// The whole model trains: one graph with every parameter's gradient.
	g := layers.NewGraph(true, nil)
	x := inputVar(g, "x", []int{3, 8, 8, 1}, randSlice(rng, 3*64, -1, 1))
	labels := inputVar(g, "labels", []int{3}, []float32{1, 7, 3})
	logits, err := m.Forward(g, x.node)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := layers.CrossEntropy(logits, labels.node)
	if err != nil {
		t.Fatal(err)
	}
	ps, nodes := g.Params()
	if len(ps) != len(m.Params()) {
		t.Fatalf("graph params %d, model params %d", len(ps), len(m.Params()))
	}
	vars := make([]variable, len(ps))
	for i, p := range ps {
		vars[i] = variable{p.Name, nodes[i], p.Data()}
	}
	_, grads := runGrads(t, g, loss, vars)
	for i, d := range grads {
		var norm float64
		for _, v := range d {
			norm += float64(v) * float64(v)
		}
		if norm == 0 || math.IsNaN(norm) {
			t.Errorf("gradient of %s has norm² %g", ps[i].Name, norm)
		}
	}
}
