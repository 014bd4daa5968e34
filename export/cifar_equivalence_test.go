package export_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/internal/evaltest"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// cifarRecipes are the ResNet-20 recipes of the CIFAR-10 equivalence test,
// with the kernel of their quantized body convolutions.
var cifarRecipes = []struct {
	name, kernel string
}{
	{"xnor", bitpack.KernelXNOR},
	{"bnn", bitpack.KernelXNOR},
	{"lsq-w4a4", bitpack.KernelInt8},
}

// cifarSteps and cifarBatch: ResNet-20 trains this many steps at this
// batch size before the comparison, enough for the weights, BatchNorm
// statistics and learned steps to leave their initial values (sign and
// rounding boundaries then fall where a trained model's do). Under
// LOWBIT_NOASM=1 (portable sgemm, several times slower) it trains fewer.
const cifarBatch = 32

func cifarSteps() int {
	if os.Getenv("LOWBIT_NOASM") == "1" {
		return 10
	}
	return 40
}

// equivCIFARImages is how many test images the comparison covers: all,
// except under LOWBIT_NOASM=1, where the portable sgemm makes the graph
// forward the bottleneck.
func equivCIFARImages(n int) int {
	if os.Getenv("LOWBIT_NOASM") == "1" {
		return min(n, 500)
	}
	return n
}

// cifarGraphBatch is the graph's evaluation batch; the per-layer
// comparison covers the first batch.
const cifarGraphBatch = 100

type cifarSet struct {
	once        sync.Once
	train, test datasets.Dataset
	x           []float32 // the test split, NHWC
	y           []int32
	err         error
}

var cifarSets sync.Map // datasets.Scaling → *cifarSet

// cifar opens the shared CIFAR-10 subset (../shared/data/cifar10, 2000 test
// images) and loads its test split, skipping t (or failing it under
// LOWBIT_REQUIRE_DATA=1) when it is absent.
func cifar(t testing.TB, s datasets.Scaling) *cifarSet {
	t.Helper()
	v, _ := cifarSets.LoadOrStore(s, &cifarSet{})
	d := v.(*cifarSet)
	d.once.Do(func() {
		opts := datasets.Options{Scaling: s}
		if d.train, d.err = datasets.Open("cifar10", "train", "", opts); d.err != nil {
			return
		}
		if d.test, d.err = datasets.Open("cifar10", "test", "", opts); d.err != nil {
			return
		}
		h, w, c := d.test.Shape()
		per, n := h*w*c, d.test.Len()
		d.x, d.y = make([]float32, n*per), make([]int32, n)
		for i := range n {
			lab, err := d.test.Example(i, d.x[i*per:(i+1)*per], nil)
			if err != nil {
				d.err = err
				return
			}
			d.y[i] = int32(lab)
		}
	})
	if errors.Is(d.err, datasets.ErrNotFound) {
		datatest.Missing(t, "cifar10: %v", d.err)
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	return d
}

// trainedResNet20 trains ResNet-20 on the CIFAR-10 subset with the recipe,
// once per test binary.
func trainedResNet20(t testing.TB, recipe string) (*models.Model, *cifarSet) {
	t.Helper()
	r, err := recipes.Lookup(recipe)
	if err != nil {
		t.Fatal(err)
	}
	data := cifar(t, r.Scaling)
	cfg := r.Config("resnet20", "cifar10")
	// The split is sorted by class: the test reports its own accuracy on
	// all of it, so training evaluates one batch only.
	cfg.MaxSteps, cfg.Batch, cfg.Seed, cfg.EvalLimit, cfg.EvalBatch = cifarSteps(), cifarBatch, 1, cifarBatch, cifarBatch
	cfg.Train, cfg.Test = data.train, data.test
	m, _ := evaltest.Trained(t, fmt.Sprintf("resnet20/%s/%d", recipe, cfg.MaxSteps), cfg)
	return m, data
}

// TestCIFAREquivalence: ResNet-20 (residual blocks, strided projection
// shortcuts, global average pooling) trained briefly on CIFAR-10 with
// XNOR-Net, BNN and LSQ W4A4, frozen, written and read back, gives the
// training graph's eval forward bit for bit on the 2000 test images:
// every conv and dense layer's input and output (Trace, the first graph
// batch of 100 images) and every logit (Predict, with the binary chains
// fused into integer thresholds). Bit-exactness holds layer by layer (see bitpack's package
// documentation): the float first conv and classifier run the same sgemm
// on the same values, BatchNorm is v·a+b with the same a and b, the
// residual sum and average pool add in the same order, and the quantized
// layers' integer dot products are exact on both sides and scaled by one
// float64 product (layers' intLinear, bitpack's xnor/int8 outputs). So
// the argmax agrees on all images, and one changed ulp in one BatchNorm
// parameter is caught (TestCIFAREquivalencePerturbed).
func TestCIFAREquivalence(t *testing.T) {
	for _, rc := range cifarRecipes {
		t.Run(rc.name, func(t *testing.T) {
			t0 := time.Now()
			m, data := trainedResNet20(t, rc.name)
			tTrain := time.Since(t0)
			bm := freezeResNet20(t, m, rc.kernel)
			n := equivCIFARImages(len(data.y))
			xs, ys := data.x[:n*len(data.x)/len(data.y)], data.y[:n]
			t0 = time.Now()
			want := graphCheck(t, m, xs, ys, func(g *graphValues, x []float32, nb int) {
				if errs := compareLayers(bm, g, x, nb); len(errs) > 0 {
					t.Errorf("%d layers differ from the graph:\n%s", len(errs), strings.Join(errs, "\n"))
				}
			})
			tGraph := time.Since(t0)
			t0 = time.Now()
			got, err := bm.Predict(xs, n)
			if err != nil {
				t.Fatal(err)
			}
			tEngine := time.Since(t0)
			classes := m.Spec.Classes
			agree, correct, bits, worst := 0, 0, 0, 0.0
			for i := range n {
				g, w := got[i*classes:(i+1)*classes], want[i*classes:(i+1)*classes]
				if argmax(g) == argmax(w) {
					agree++
				}
				if argmax(w) == int(ys[i]) {
					correct++
				}
				for j := range w {
					if math.Float32bits(g[j]) != math.Float32bits(w[j]) {
						bits++
						worst = max(worst, math.Abs(float64(g[j]-w[j])))
					}
				}
			}
			t.Logf("%s: argmax agreement %d/%d, %d logits differ (max %.3g); graph accuracy after %d steps %.1f%%; times: train %v, graph %v, engine %v",
				rc.name, agree, n, bits, worst, cifarSteps(), 100*float64(correct)/float64(n), tTrain.Round(time.Millisecond), tGraph.Round(time.Millisecond), tEngine.Round(time.Millisecond))
			if agree != n || bits != 0 {
				t.Errorf("argmax agreement %d/%d and %d of %d logits differ (max %.3g), want all equal bit for bit", agree, n, bits, len(want), worst)
			}
		})
	}
}

// TestCIFAREquivalencePerturbed: the per-layer comparison of
// TestCIFAREquivalence catches a one-ulp change of one BatchNorm scale γ
// (channel 0 of the first BatchNorm, which feeds the first binary conv's
// sign), naming the conv after it as the first layer that differs.
func TestCIFAREquivalencePerturbed(t *testing.T) {
	m, data := trainedResNet20(t, "xnor")
	bm := freezeResNet20(t, m, bitpack.KernelXNOR)
	spec := bm.Spec()
	layers := append([]bitpack.LayerSpec(nil), spec.Layers...)
	first := ""
	for i, l := range layers {
		if l.Kind == bitpack.LayerBatchNorm {
			l.Gamma = append([]float32(nil), l.Gamma...)
			l.Gamma[0] = math.Nextafter32(l.Gamma[0], float32(math.Inf(1)))
			layers[i] = l
			for _, next := range layers[i+1:] {
				if next.Kind == bitpack.LayerConv || next.Kind == bitpack.LayerResidual {
					first = firstConv(next)
					break
				}
			}
			break
		}
	}
	spec.Layers = layers
	pm, err := bitpack.NewModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	nb := 100
	graphCheck(t, m, data.x[:nb*len(data.x)/len(data.y)], data.y[:nb], func(g *graphValues, x []float32, nb int) {
		if errs := compareLayers(bm, g, x, nb); len(errs) > 0 {
			t.Fatalf("the unperturbed engine differs from the graph:\n%s", strings.Join(errs, "\n"))
		}
		errs := compareLayers(pm, g, x, nb)
		if len(errs) == 0 || !strings.HasPrefix(errs[0], first+" ") {
			t.Fatalf("with BatchNorm γ_0 one ulp higher, the layers that differ are %q, want the first to be %s", errs, first)
		}
		t.Logf("one ulp in one BatchNorm γ: %d layers differ, first: %s", len(errs), errs[0])
	})
}

// firstConv is the name of the first conv in l (a conv or a residual).
func firstConv(l bitpack.LayerSpec) string {
	if l.Kind == bitpack.LayerConv {
		return l.Name
	}
	for _, b := range l.Body {
		if s := firstConv(b); s != "" {
			return s
		}
	}
	return ""
}

// freezeResNet20 freezes m, checks its body convs' kernel and returns the
// model as read back from its file.
func freezeResNet20(t *testing.T, m *models.Model, kernel string) *bitpack.Model {
	t.Helper()
	bm, err := export.Freeze(m)
	if err != nil {
		t.Fatal(err)
	}
	body := 0
	for _, r := range bm.Report() {
		name := r.Name[strings.LastIndex(r.Name, "/")+1:]
		if r.Kind == bitpack.LayerConv && name != "conv1" {
			body++
			if r.Kernel != kernel {
				t.Errorf("%s runs on kernel %s, want %s", r.Name, r.Kernel, kernel)
			}
		}
	}
	if body != 20 {
		t.Errorf("%d body convs, want ResNet-20's 20 (18 in blocks, 2 projections)", body)
	}
	b, err := bm.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bm, err = bitpack.Decode(b); err != nil {
		t.Fatal(err)
	}
	return bm
}

// graphValues are the node values of one evaluation-graph batch, by op name.
type graphValues struct {
	g    *gorgonia.ExprGraph
	byOp map[string]*gorgonia.Node
}

// in returns the value feeding node n's first input, looking through an
// input quantizer (the engine's Trace.In is the layer's input before it).
func (v *graphValues) in(n *gorgonia.Node) []float32 {
	c := v.child(n)
	if c.Op() != nil && strings.HasSuffix(strings.SplitN(c.Op().String(), ":", 2)[0], ".iq") {
		c = v.child(c)
	}
	return c.Value().Data().([]float32)
}

func (v *graphValues) child(n *gorgonia.Node) *gorgonia.Node {
	it := v.g.From(n.ID())
	it.Next()
	return it.Node().(*gorgonia.Node)
}

// graphCheck runs the evaluation graph over x in batches of
// cifarGraphBatch, calls check with the first batch's values, and returns
// all logits.
func graphCheck(t *testing.T, m *models.Model, x []float32, y []int32, check func(g *graphValues, x []float32, n int)) []float32 {
	t.Helper()
	batch := min(cifarGraphBatch, len(y))
	per := len(x) / len(y)
	net, err := recipes.NewInspectNet(m, batch) // every layer's value readable after Run
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	classes := m.Spec.Classes
	out := make([]float32, 0, len(y)*classes)
	for i := 0; i < len(y); i += batch {
		n := min(batch, len(y)-i)
		if err := net.Run(x[i*per:(i+n)*per], y[i:i+n], n); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			g := &graphValues{g: net.Graph.G, byOp: map[string]*gorgonia.Node{}}
			for _, nd := range net.Graph.G.AllNodes() {
				if nd.Op() != nil {
					g.byOp[nd.Op().String()] = nd
				}
			}
			check(g, x[:n*per], n)
		}
		out = append(out, net.Logits()[:n*classes]...)
	}
	return out
}

// compareLayers traces bm on the n images x and compares every conv and
// dense layer's input and output with the graph's values bit for bit. It
// returns one line per layer that differs, in engine order.
func compareLayers(bm *bitpack.Model, g *graphValues, x []float32, n int) []string {
	var errs []string
	seen := map[string]bool{}
	offs := map[string]int{} // Trace runs in chunks: each layer's offset
	_, err := bm.Trace(x, n, func(tr bitpack.Trace) error {
		node := g.byOp[tr.Name]
		if node == nil {
			return fmt.Errorf("%s: no graph node", tr.Name)
		}
		in, out := g.in(node), node.Value().Data().([]float32)
		oi, oo := offs[tr.Name+".in"], offs[tr.Name]
		offs[tr.Name+".in"], offs[tr.Name] = oi+len(tr.In), oo+len(tr.Out)
		if oi+len(tr.In) > len(in) || oo+len(tr.Out) > len(out) {
			return fmt.Errorf("%s: the engine traced more values than the graph has", tr.Name)
		}
		di, mi := bitDiff(tr.In, in[oi:])
		do, mo := bitDiff(tr.Out, out[oo:])
		if (di > 0 || do > 0) && !seen[tr.Name] {
			seen[tr.Name] = true
			errs = append(errs, fmt.Sprintf("%s (%s): %d input values differ (max %.3g), %d outputs (max %.3g) in the first %d images",
				tr.Name, tr.Kernel, di, mi, do, mo, tr.N))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err.Error())
	}
	return errs
}

// bitDiff counts the values of a that differ in bits from b's, and their
// largest absolute difference.
func bitDiff(a, b []float32) (int, float64) {
	n, worst := 0, 0.0
	for i, v := range a {
		if math.Float32bits(v) != math.Float32bits(b[i]) {
			n++
			worst = max(worst, math.Abs(float64(v-b[i])))
		}
	}
	return n, worst
}
