package bitpack

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lowbit/lowbit/internal/gemm"
)

// ErrModel reports a model description that cannot run (inconsistent
// shapes, a kernel that does not fit its quantizers, bad parameters).
var ErrModel = errors.New("bitpack: bad model")

// Model is a packed network: typed layers executed in order over NHWC
// float32 batches, each conv or dense layer on the kernel its quantizers
// allow (see the Kernel constants). A Model is immutable once built and
// safe for concurrent use: every call takes its scratch from a sync.Pool.
//
// Consecutive binary layers run on packed bits. Where a [KernelXNOR] conv
// or dense layer feeds the next KernelXNOR layer through BatchNorm,
// ReLU/HardTanh, max pooling and Flatten only (in the same layer list),
// the float stretch between them is folded when the Model is built into
// one integer threshold and a flip flag per output channel (see
// [Thresholds]), computed from the stored scales, biases and BatchNorm
// parameters by evaluating the engine's own float32 arithmetic
// (scale·dot + bias, the BatchNorm x·a + b, the activation, sign with
// sign(±0) = +1) at every reachable dot. The first layer then writes the
// packed signs straight into the next layer's input ([Conv.ForwardSign]),
// max pooling runs on the packed bits and the next layer packs nothing,
// with logits bit-identical to the unfused float path. A chain is left
// unfused when the folded function is not monotone in the dot or meets a
// NaN. [Model.Trace] runs the unfused path, so it reports every layer.
type Model struct {
	spec    Spec
	layers  []layer // the float path: every layer in order
	fused   []layer // layers with the binary chains fused (nil: not fusing)
	chains  int     // fused producer→consumer links
	nlayers int     // layers including those nested in residual blocks (scratch slots)
	inLen   int     // values per sample
	pool    sync.Pool
}

// predictBatch is the number of samples one internal pass processes, which
// bounds the scratch memory of large Predict calls.
const predictBatch = 128

// layer is one built layer. forward reads x (n samples of the layer's
// input shape) and returns its output, which may live in s.
type layer interface {
	forward(e *exec, x []float32, n int) ([]float32, error)
}

// exec is the per-call scratch of a Model.
type exec struct {
	slots   []slot
	trace   func(Trace) error
	threads int       // goroutines of the elementwise passes
	packs   packCache // fused path: float buffers with their signs packed
	input   []float32 // the samples of the pass (the caller's: never written)
	// final, when set, is where the layer last (the batch's last top-level
	// layer) writes its output: the caller's logits, not a copy of them.
	final []float32
	last  layer
}

type slot struct {
	out    []float32
	f32    []float32
	i32    []int32
	u8     []uint8
	conv   *Conv
	bmap   *Map // packed input of an xnor layer
	planes Planes
	isc    intScratch // integer kernels (engine_int.go)
	// fused chains (producer's slot): sign output before pooling, pooled
	// output before the flatten repack, and a view of the consumer's input
	sig, pooled, view Map
	pk                Map // fused path: the packed signs of out for the next binary conv
}

// inMap returns the slot's packed input map shaped n×h×w×c.
func (s *slot) inMap(n, h, w, c int) *Map {
	if s.bmap == nil {
		s.bmap = &Map{}
	}
	return s.bmap.reshape(n, h, w, c)
}

// reshape sets m's shape to n×h×w×c, growing its words as needed.
func (m *Map) reshape(n, h, w, c int) *Map {
	m.N, m.H, m.W, m.C, m.Words = n, h, w, c, wordsFor(c)
	m.Data = grow(m.Data, n*h*w*m.Words)
	return m
}

func growF(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func growU8(s []uint8, n int) []uint8 {
	if cap(s) < n {
		return make([]uint8, n)
	}
	return s[:n]
}

// Trace is one conv or dense layer's view of a Trace call.
type Trace struct {
	Name   string
	Kernel string
	N      int       // samples
	InDims []int     // per-sample input shape
	In     []float32 // the layer's input (before its quantizer), n samples
	// Acc holds the integer accumulators [N·OH·OW][Out] of an integer
	// kernel before any scaling (nil for KernelFloat): Σ x·w over the
	// integer codes and levels (xnor: ±1 dots, int8: after the offset
	// correction).
	Acc []int32
	Out []float32 // the layer's output
}

// NewModel builds a Model from s, checking every shape and parameter, and
// folds the BatchNorm+sign thresholds of its binary chains (see [Model]).
func NewModel(s Spec) (*Model, error) { return newModel(s, true) }

// newModel is NewModel; fuse = false keeps the float path between binary
// layers (for tests and benchmarks comparing the two).
func newModel(s Spec, fuse bool) (*Model, error) {
	m := &Model{spec: s}
	if err := checkInput(s.Input); err != nil {
		return nil, err
	}
	m.inLen = s.Input[0] * s.Input[1] * s.Input[2]
	if s.Classes < 1 {
		return nil, fmt.Errorf("%w: %d classes", ErrModel, s.Classes)
	}
	if len(s.Info.ClassNames) != 0 && len(s.Info.ClassNames) != s.Classes {
		return nil, fmt.Errorf("%w: %d class names for %d classes", ErrModel, len(s.Info.ClassNames), s.Classes)
	}
	if len(s.Info.Std) > 0 && (len(s.Info.Std) != s.Input[2] || len(s.Info.Mean) != s.Input[2]) {
		return nil, fmt.Errorf("%w: normalisation for %d/%d channels, input has %d", ErrModel, len(s.Info.Mean), len(s.Info.Std), s.Input[2])
	}
	for _, v := range s.Info.Std {
		if !finitePositive(v) {
			return nil, fmt.Errorf("%w: normalisation std %g", ErrModel, v)
		}
	}
	ls, out, err := m.build(s.Layers, s.Input, "")
	if err != nil {
		return nil, err
	}
	if p, _ := checkCount(out...); p != s.Classes {
		return nil, fmt.Errorf("%w: the layers produce %v, want %d classes", ErrModel, out, s.Classes)
	}
	m.layers = ls
	if fuse {
		m.fused = m.fuse(ls)
		for _, l := range m.fused[1:] {
			if r, ok := l.(*fusedResidual); ok {
				r.sumInPlace = true
			}
		}
	}
	m.pool.New = func() any { return m.newExec() }
	return m, nil
}

// Spec returns the model's description (shared; do not modify).
func (m *Model) Spec() Spec { return m.spec }

// Info returns the model's metadata.
func (m *Model) Info() ModelInfo { return m.spec.Info }

// Input returns the per-sample input shape (H, W, C).
func (m *Model) Input() []int { return append([]int(nil), m.spec.Input...) }

// Classes returns the number of logits per sample.
func (m *Model) Classes() int { return m.spec.Classes }

func (m *Model) build(specs []LayerSpec, in []int, path string) ([]layer, []int, error) {
	var out []layer
	for i := range specs {
		ls := &specs[i]
		name := ls.Name
		if name == "" {
			name = fmt.Sprintf("layer %s%d", path, i)
		}
		l, o, err := m.buildLayer(ls, in, path+fmt.Sprint(i)+".")
		if err == nil {
			err = checkActivation(ls, in, o)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s (%s): %v", ErrModel, name, ls.Kind, err)
		}
		out = append(out, l)
		in = o
	}
	return out, in, nil
}

// Limits on what a model may make the engine allocate; a model file that
// exceeds one is refused at load, before any buffer is sized from it.
const (
	// MaxInputSide caps the input height and width, MaxInputChannels its channels.
	MaxInputSide, MaxInputChannels = 4096, 4096
	// MaxActivation caps one sample's values at any layer's output, and
	// MaxIm2col a convolution's unfolded input (OH·OW·KH·KW·C).
	MaxActivation, MaxIm2col = 1 << 24, 1 << 26
)

// checkInput checks the per-sample input shape against the limits.
func checkInput(in []int) error {
	if len(in) != 3 || in[0] < 1 || in[1] < 1 || in[2] < 1 {
		return fmt.Errorf("%w: input shape %v, want H,W,C", ErrModel, in)
	}
	if in[0] > MaxInputSide || in[1] > MaxInputSide || in[2] > MaxInputChannels {
		return fmt.Errorf("%w: input shape %v exceeds the limit of %d×%d×%d", ErrModel, in, MaxInputSide, MaxInputSide, MaxInputChannels)
	}
	if n := in[0] * in[1] * in[2]; n > MaxActivation {
		return fmt.Errorf("%w: input shape %v holds %d values, over the limit of %d", ErrModel, in, n, MaxActivation)
	}
	return nil
}

// checkActivation bounds a layer's output and, for a convolution, its unfolded input.
func checkActivation(ls *LayerSpec, in, out []int) error {
	if _, ok := checkCount(out...); !ok || len(out) == 0 {
		return fmt.Errorf("output %v", out)
	}
	if n, _ := checkCount(out...); n > MaxActivation {
		return fmt.Errorf("output %v holds %d values per sample, over the limit of %d", out, n, MaxActivation)
	}
	if ls.Kind == LayerConv && len(out) == 3 {
		if n, ok := checkCount(out[0], out[1], ls.KH, ls.KW, in[len(in)-1]); !ok || n > MaxIm2col {
			return fmt.Errorf("unfolded input %d×%d×%d×%d×%d is over the limit of %d values per sample", out[0], out[1], ls.KH, ls.KW, in[len(in)-1], MaxIm2col)
		}
	}
	return nil
}

func (m *Model) slot() int {
	m.nlayers++
	return m.nlayers - 1
}

func (m *Model) buildLayer(ls *LayerSpec, in []int, path string) (layer, []int, error) {
	switch ls.Kind {
	case LayerConv, LayerDense:
		return m.buildLinear(ls, in)
	case LayerBatchNorm:
		c := in[len(in)-1]
		if len(ls.Beta) != c || len(ls.Mean) != c || len(ls.Var) != c || (ls.Gamma != nil && len(ls.Gamma) != c) {
			return nil, nil, fmt.Errorf("parameters for %d channels, input %v", len(ls.Beta), in)
		}
		if !(ls.Eps >= 0) {
			return nil, nil, fmt.Errorf("eps %g", ls.Eps)
		}
		bn := &bnLayer{slot: m.slot(), a: make([]float32, c), b: make([]float32, c)}
		for j := 0; j < c; j++ {
			if !(float64(ls.Var[j])+float64(ls.Eps) > 0) {
				return nil, nil, fmt.Errorf("channel %d: var+eps = %g", j, float64(ls.Var[j])+float64(ls.Eps))
			}
			// The training graph's eval formula, in its float32 order.
			a := float32(1 / math.Sqrt(float64(ls.Var[j])+float64(ls.Eps)))
			if ls.Gamma != nil {
				a *= ls.Gamma[j]
			}
			bn.a[j], bn.b[j] = a, ls.Beta[j]-ls.Mean[j]*a
		}
		return bn, in, nil
	case LayerReLU, LayerHardTanh:
		return &actLayer{slot: m.slot(), hard: ls.Kind == LayerHardTanh}, in, nil
	case LayerMaxPool, LayerAvgPool:
		if len(in) != 3 {
			return nil, nil, fmt.Errorf("input %v, want H,W,C", in)
		}
		p := &poolLayer{slot: m.slot(), max: ls.Kind == LayerMaxPool, h: in[0], w: in[1], c: in[2]}
		switch {
		case ls.Global && p.max:
			return nil, nil, fmt.Errorf("global max pooling is not supported")
		case ls.Global:
			p.kh, p.kw, p.st = in[0], in[1], 1
		default:
			p.kh, p.kw, p.st = ls.Size, ls.Size, ls.Stride
		}
		if p.kh < 1 || p.kw < 1 || p.st < 1 || p.kh > in[0] || p.kw > in[1] {
			return nil, nil, fmt.Errorf("window %d×%d stride %d on input %v", p.kh, p.kw, p.st, in)
		}
		p.oh, p.ow = (in[0]-p.kh)/p.st+1, (in[1]-p.kw)/p.st+1
		return p, []int{p.oh, p.ow, in[2]}, nil
	case LayerFlatten:
		n, _ := checkCount(in...)
		return flattenLayer{}, []int{n}, nil
	case LayerResidual:
		if len(ls.Body) == 0 {
			return nil, nil, fmt.Errorf("empty body")
		}
		body, bo, err := m.build(ls.Body, in, path+"body.")
		if err != nil {
			return nil, nil, err
		}
		so := in
		var sc []layer
		if ls.Shortcut != nil {
			if sc, so, err = m.build(ls.Shortcut, in, path+"shortcut."); err != nil {
				return nil, nil, err
			}
		}
		if fmt.Sprint(bo) != fmt.Sprint(so) {
			return nil, nil, fmt.Errorf("body gives %v, shortcut gives %v", bo, so)
		}
		return &residualLayer{slot: m.slot(), body: body, shortcut: sc, c: bo[len(bo)-1]}, bo, nil
	}
	return nil, nil, fmt.Errorf("unknown layer kind %q", ls.Kind)
}

// setThreads sets the goroutines e's layers may use.
func (e *exec) setThreads(threads int) {
	e.threads = threads
	for i := range e.slots {
		if c := e.slots[i].conv; c != nil {
			c.Threads = threads
		}
	}
}

func (m *Model) newExec() *exec {
	e := &exec{slots: make([]slot, m.nlayers), threads: runtime.GOMAXPROCS(0)}
	var walk func([]layer)
	walk = func(ls []layer) {
		for _, l := range ls {
			switch v := l.(type) {
			case *linear:
				if v.cw != nil {
					e.slots[v.slot].conv = &Conv{Weights: v.cw, StrideH: v.stride, StrideW: v.stride,
						PadH: v.pad, PadW: v.pad, Pad: PadZero, Threads: runtime.GOMAXPROCS(0)}
				}
			case *residualLayer:
				walk(v.body)
				walk(v.shortcut)
			}
		}
	}
	walk(m.layers)
	return e
}

// Predict returns the n×Classes() logits of the n samples in x (NHWC,
// n×H×W×C values, already normalised as in training).
func (m *Model) Predict(x []float32, n int) ([]float32, error) {
	return m.run(nil, x, n, nil)
}

// PredictTo is Predict appending the logits to dst[:0], so a caller that
// passes the previous result back allocates nothing per call.
func (m *Model) PredictTo(dst, x []float32, n int) ([]float32, error) {
	return m.run(dst[:0], x, n, nil)
}

// Trace runs the model like Predict and calls f after every conv and
// dense layer (in execution order, batch by batch) with its input, integer
// accumulators and output; f must not keep the slices. An error from f
// stops the run. Trace runs the unfused float path between binary layers
// (which gives the same logits as the fused one), so every layer reports
// its float input and accumulators.
func (m *Model) Trace(x []float32, n int, f func(Trace) error) ([]float32, error) {
	return m.run(nil, x, n, f)
}

func (m *Model) run(out, x []float32, n int, f func(Trace) error) ([]float32, error) {
	if n < 1 || len(x) != n*m.inLen {
		return nil, fmt.Errorf("bitpack: Predict: %d values for %d samples of %v", len(x), n, m.spec.Input)
	}
	base := len(out)
	out = slices.Grow(out, n*m.spec.Classes)[:base+n*m.spec.Classes]
	y := out[base:] // the logits, written piece by piece
	threads := runtime.GOMAXPROCS(0)
	if size := pieceSize(n, threads); f == nil && size < n {
		if err := m.runSplit(y, x, n, size, threads); err != nil {
			return nil, err
		}
		return out, nil
	}
	e := m.pool.Get().(*exec)
	defer m.pool.Put(e)
	e.setThreads(threads)
	e.trace = f
	defer func() { e.trace = nil }()
	for i := 0; i < n; i += predictBatch {
		if err := m.runBatch(e, y, x, i, min(predictBatch, n-i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runBatch computes the logits of samples [i, i+b) of x into out.
func (m *Model) runBatch(e *exec, out, x []float32, i, b int) error {
	ls := m.fused
	if e.trace != nil || ls == nil {
		ls = m.layers
	}
	e.packs.clear()
	dst := out[i*m.spec.Classes : (i+b)*m.spec.Classes]
	if e.trace == nil && len(ls) > 0 {
		e.final, e.last = dst, ls[len(ls)-1]
		defer func() { e.final, e.last = nil, nil }()
	}
	e.input = x[i*m.inLen : (i+b)*m.inLen]
	defer func() { e.input = nil }()
	y, err := runLayers(e, ls, e.input, b)
	if err != nil {
		return err
	}
	if &y[0] != &dst[0] {
		copy(dst, y[:len(dst)])
	}
	return nil
}

// minPiece is the fewest samples in a piece of a batch that Predict
// splits by samples.
const minPiece = 8

// pieceSize returns the samples per piece when Predict splits n samples
// by samples over threads goroutines (n or more: it does not), rather
// than each layer: pieces run whole passes through the layers, each
// layer on one thread, which scales better (no per-layer barriers, no
// small regions). Each goroutine gets up to 4 pieces of at least
// minPiece samples (a pass over several samples costs less per sample),
// claimed in turn so that they finish together, or Trace's batches of
// predictBatch samples when there are enough of those. Every layer gives
// a sample the same bits in any batch (the float GEMMs too, since they
// stopped splitting few-row products along K; TestPredictThreads and
// export's equivalence tests check it), so the pieces do not change the
// logits.
func pieceSize(n, threads int) int {
	switch {
	case threads < 2 || n < threads*minPiece:
		return n
	case n >= threads*predictBatch:
		return predictBatch
	}
	pieces := threads * min(4, n/(threads*minPiece))
	return (n + pieces - 1) / pieces
}

// runSplit runs the n samples of x in pieces of size samples on threads
// goroutines, each with its own exec and one thread per layer, claiming
// the pieces in order.
func (m *Model) runSplit(out, x []float32, n, size, threads int) error {
	wholePasses.Add(1)
	defer wholePasses.Add(-1)
	var next atomic.Int64
	errs := make([]error, threads)
	part := func(t int) {
		e := m.pool.Get().(*exec)
		defer m.pool.Put(e)
		e.setThreads(1)
		for i := int(next.Add(int64(size))) - size; i < n; i = int(next.Add(int64(size))) - size {
			if errs[t] = m.runBatch(e, out, x, i, min(size, n-i)); errs[t] != nil {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Go(func() { part(t) })
	}
	part(0)
	wg.Wait()
	return errors.Join(errs...)
}

func runLayers(e *exec, ls []layer, x []float32, n int) ([]float32, error) {
	var err error
	for _, l := range ls {
		if x, err = l.forward(e, x, n); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// ---- elementwise, pooling, residual ----

type bnLayer struct {
	slot int
	a, b []float32
}

func (l *bnLayer) forward(e *exec, x []float32, n int) ([]float32, error) {
	s := &e.slots[l.slot]
	s.out = growF(s.out, len(x))
	y, c := s.out, len(l.a)
	for r := 0; r < len(x); r += c {
		xr, yr := x[r:r+c], y[r:r+c]
		for j, v := range xr {
			yr[j] = bnValue(v, l.a[j], l.b[j])
		}
	}
	return y, nil
}

type actLayer struct {
	slot int
	hard bool
}

func (l *actLayer) forward(e *exec, x []float32, n int) ([]float32, error) {
	s := &e.slots[l.slot]
	s.out = growF(s.out, len(x))
	y := s.out
	if l.hard {
		for i, v := range x {
			y[i] = hardTanh(v)
		}
	} else {
		for i, v := range x {
			y[i] = relu(v)
		}
	}
	return y, nil
}

// The float32 operations of the xnor output, BatchNorm and activations,
// shared by the layers' loops and the threshold folding (engine_fuse.go),
// which must evaluate them exactly alike.

// xnorValue is the xnor kernel's output before the bias: scale·dot.
//
// The explicit float32 conversions here and in bnValue round the product
// before any add, so no build (GOAMD64=v3 allows fused multiply-add)
// contracts it differently in different callers or from the training graph.
func xnorValue(scale float32, dot int32) float32 { return float32(scale * float32(dot)) }

// bnValue is the BatchNorm of v: v·a + b.
func bnValue(v, a, b float32) float32 { return float32(v*a) + b }

func hardTanh(v float32) float32 { return min(max(v, -1), 1) }

func relu(v float32) float32 { return max(v, 0) }

type poolLayer struct {
	slot                int
	max                 bool
	h, w, c, kh, kw, st int
	oh, ow              int
	// fused path: elementwise layers applied to the input as it is read,
	// and the binary conv whose packed input the output also fills
	pre    []stage
	packTo *linear
}

// forward follows the training kernel's order: the first window element
// is copied, the others are max-ed or added in window order, and the
// average is a multiplication by 1/(kh·kw). Output rows run in parallel.
func (l *poolLayer) forward(e *exec, x []float32, n int) ([]float32, error) {
	s := &e.slots[l.slot]
	c := l.c
	s.out = growF(s.out, n*l.oh*l.ow*c)
	y := s.out
	pm := s.packMap(l.packTo, n)
	threads := e.threadsFor(len(x))
	stride := 2 * padLine((c+1)/2) // per-thread rows on their own cache lines
	if l.pre != nil {
		s.f32 = growF(s.f32, threads*stride)
	}
	tmp := s.f32
	parallelChunks(n*l.oh, threads, func(t, r0, r1 int) {
		var buf []float32
		if l.pre != nil {
			buf = tmp[t*stride : t*stride+c]
		}
		for r := r0; r < r1; r++ {
			l.poolRow(y, x, r/l.oh, r%l.oh, buf)
			if pm != nil { // while the row is in cache
				packRows(pm, y, c, r*l.ow, (r+1)*l.ow)
			}
		}
	})
	if pm != nil {
		e.packs.put(y, pm)
	}
	return y, nil
}

// poolRow computes output row i of sample b, running pre on each input
// row through buf. Where the stages fit bnActRowAVX, the leading
// multiple of 16 channels runs there in one pass with the max, one call
// per window offset over the whole row; each output value still takes
// its window's elements in window order.
func (l *poolLayer) poolRow(y, x []float32, b, i int, buf []float32) {
	c := l.c
	out := y[(b*l.oh+i)*l.ow*c:][:l.ow*c]
	vec := 0
	if o, fits := oneStepOf(l.pre, nil); buf != nil && l.max && fits {
		if vec = vecLen(c); vec > 0 {
			l.bnActMaxRow(out, x, b, i, vec, &o)
		}
	}
	if vec == c {
		return
	}
	inv := 1 / float32(l.kh*l.kw)
	for j := 0; j < l.ow; j++ {
		dst := out[j*c : (j+1)*c]
		for di := 0; di < l.kh; di++ {
			for dj := 0; dj < l.kw; dj++ {
				row := x[((b*l.h+i*l.st+di)*l.w+j*l.st+dj)*c:][:c]
				src, d := row[vec:], dst[vec:]
				if buf != nil {
					t := buf[vec:c]
					copy(t, src)
					applyStages(l.pre, t, vec)
					src = t
				}
				switch {
				case di == 0 && dj == 0:
					copy(d, src)
				case l.max:
					maxRow(d, src)
				default:
					addRow(d, src)
				}
			}
		}
		if !l.max {
			for ch := range dst {
				dst[ch] *= inv
			}
		}
	}
}

// bnActMaxRow is the max pool of output row i of sample b over the
// channels [0, vec) (a multiple of 16) with the BatchNorm and activation
// o on each input: one bnActRowAVX call per window row over every output
// pixel, each taking the row's kw inputs in window order, the first
// window row's first input copied.
func (l *poolLayer) bnActMaxRow(out, x []float32, b, i, vec int, o *oneStep) {
	c := l.c
	var pa, pb *float32
	if o.bn != nil {
		pa, pb = &o.bn.a[0], &o.bn.b[0]
	}
	_ = out[(l.ow-1)*c+vec-1]
	for di := 0; di < l.kh; di++ {
		row := x[(b*l.h+i*l.st+di)*l.w*c:]
		_ = row[((l.ow-1)*l.st+l.kw-1)*c+vec-1]
		maxInto := 0
		if di > 0 {
			maxInto = 1
		}
		bnActRowAVX(&out[0], &row[0], pa, pb, vec, o.act1, maxInto, l.ow, l.st*c, c, l.kw, c)
	}
}

type flattenLayer struct{}

func (flattenLayer) forward(_ *exec, x []float32, _ int) ([]float32, error) { return x, nil }

type residualLayer struct {
	slot           int
	body, shortcut []layer
	c              int // output channels (the last axis)
}

func (l *residualLayer) forward(e *exec, x []float32, n int) ([]float32, error) {
	a, err := runLayers(e, l.body, x, n)
	if err != nil {
		return nil, err
	}
	b := x
	if l.shortcut != nil {
		if b, err = runLayers(e, l.shortcut, x, n); err != nil {
			return nil, err
		}
	}
	s := &e.slots[l.slot]
	s.out = growF(s.out, len(a))
	for i := range s.out {
		s.out[i] = a[i] + b[i]
	}
	return s.out, nil
}

// ---- conv and dense ----

type linear struct {
	slot   int
	name   string
	kernel string
	dense  bool
	in     []int // per-sample input shape
	// conv geometry (dense: h = w = kh = kw = 1, cin = features)
	h, w, cin, cout, kh, kw, stride, pad, oh, ow int
	k                                            int // kh·kw·cin

	q      InputQuant
	wf     []float32     // float kernel: dequantized [cout][k], dense [k][cout]
	wfp    *gemm.PackedB // float conv kernel: wf packed once for gemm
	bias   []float32
	scale  []float64 // integer kernels: per-row weight scale × input scale
	scale1 []float32 // xnor: per-row weight scale
	cw     *ConvWeights
	pp     *PlanePanels
	s8     *S8Panels
	lsum   []int32 // int8: Σ levels per row, for the input offset
	bits   int     // bitserial: input bits

	wino *winoWeights // int8 3×3 stride 1: Winograd weights (wino.go), or nil
}

func (m *Model) buildLinear(ls *LayerSpec, in []int) (layer, []int, error) {
	l := &linear{slot: m.slot(), name: ls.Name, kernel: ls.Kernel, dense: ls.Kind == LayerDense, in: in, q: ls.Input}
	if l.dense {
		feat, _ := checkCount(in...)
		if feat != ls.In || ls.Out < 1 {
			return nil, nil, fmt.Errorf("input %v has %d features, layer wants %d→%d", in, feat, ls.In, ls.Out)
		}
		l.h, l.w, l.cin, l.cout, l.kh, l.kw, l.stride = 1, 1, ls.In, ls.Out, 1, 1, 1
	} else {
		if len(in) != 3 || in[2] != ls.In || ls.Out < 1 {
			return nil, nil, fmt.Errorf("input %v, want H,W,%d", in, ls.In)
		}
		l.h, l.w, l.cin, l.cout, l.kh, l.kw, l.stride, l.pad = in[0], in[1], ls.In, ls.Out, ls.KH, ls.KW, ls.Stride, ls.Pad
		if l.kh < 1 || l.kw < 1 || l.stride < 1 || l.pad < 0 || l.pad > 1<<16 ||
			l.kh > l.h+2*l.pad || l.kw > l.w+2*l.pad {
			return nil, nil, fmt.Errorf("%d×%d kernel, stride %d, padding %d on input %v", l.kh, l.kw, l.stride, l.pad, in)
		}
	}
	l.oh, l.ow = (l.h+2*l.pad-l.kh)/l.stride+1, (l.w+2*l.pad-l.kw)/l.stride+1
	k, ok := checkCount(l.kh, l.kw, l.cin)
	if _, ok2 := checkCount(k, l.cout); !ok || !ok2 {
		return nil, nil, fmt.Errorf("too many weights")
	}
	if _, ok := checkCount(l.oh, l.ow, l.cout); !ok {
		return nil, nil, fmt.Errorf("output too large")
	}
	l.k = k
	if err := ls.Input.Validate(); err != nil {
		return nil, nil, err
	}
	if err := ls.Weights.check(l.cout, k); err != nil {
		return nil, nil, err
	}
	if ls.Bias != nil && len(ls.Bias) != l.cout {
		return nil, nil, fmt.Errorf("%d biases for %d outputs", len(ls.Bias), l.cout)
	}
	l.bias = ls.Bias
	out := []int{l.oh, l.ow, l.cout}
	if l.dense {
		out = []int{l.cout}
	}
	if err := l.prepare(&ls.Weights); err != nil {
		return nil, nil, err
	}
	return l, out, nil
}

// prepare packs the weights for the layer's kernel, checking that the
// kernel fits the input quantizer and the weight levels.
func (l *linear) prepare(ws *WeightSpec) error {
	if l.kernel == KernelFloat {
		l.prepareFloat(ws)
		return nil
	}
	levels, wscale, ok := ws.intLevels(l.cout, l.k)
	if !ok {
		return fmt.Errorf("kernel %s needs integer weight levels, weights are %s", l.kernel, ws.Enc)
	}
	var lmin, lmax int8
	for _, v := range levels {
		lmin, lmax = min(lmin, v), max(lmax, v)
	}
	l.scale = make([]float64, l.cout)
	for o := range l.scale {
		l.scale[o] = wscale[o] * l.q.Scale()
	}
	switch l.kernel {
	case KernelXNOR:
		return l.prepareXNOR(ws, levels)
	case KernelBitSerial:
		return l.prepareBitSerial(levels, lmin, lmax)
	case KernelInt8:
		return l.prepareInt8(levels)
	}
	return fmt.Errorf("unknown kernel %q", l.kernel)
}

// prepareXNOR packs ±1 weight levels for the XNOR kernel.
func (l *linear) prepareXNOR(ws *WeightSpec, levels []int8) error {
	if l.q.Kind != QuantSign {
		return fmt.Errorf("kernel xnor needs sign inputs, input quantizer is %s", l.q)
	}
	if ws.Enc != WeightsSign {
		return fmt.Errorf("kernel xnor needs sign weights, weights are %s", ws.Enc)
	}
	l.scale1 = make([]float32, l.cout)
	for o := range l.scale1 {
		l.scale1[o] = ws.scale(o)
	}
	w := make([]float32, len(levels))
	for i, v := range levels {
		w[i] = float32(v)
	}
	cw, err := PackConvWeights(w, l.cout, l.kh, l.kw, l.cin)
	if err != nil {
		return err
	}
	l.cw = cw
	return nil
}

// prepareBitSerial packs weight levels in ±1 (binary code) or ±1/±3
// (offset code) into bit planes for 1–2-bit input codes.
func (l *linear) prepareBitSerial(levels []int8, lmin, lmax int8) error {
	if !l.q.HasCodes() || l.q.Offset() != 0 || l.q.MaxCode() > 3 {
		return fmt.Errorf("kernel bitserial needs 1–2-bit unsigned input codes, input quantizer is %s", l.q)
	}
	l.bits = 1
	if l.q.MaxCode() > 1 {
		l.bits = 2
	}
	code, nb := Binary, 1
	q := make([]uint8, len(levels))
	switch {
	case lmin >= -1 && lmax <= 1:
		for i, v := range levels {
			if v == 0 {
				return fmt.Errorf("kernel bitserial: zero weight level")
			}
			if v < 0 {
				q[i] = 1
			}
		}
	case lmin >= -3 && lmax <= 3:
		code, nb = Offset, 2
		for i, v := range levels {
			if v%2 == 0 {
				return fmt.Errorf("kernel bitserial: even weight level %d", v)
			}
			q[i] = uint8((int(v) + 3) / 2)
		}
	default:
		return fmt.Errorf("kernel bitserial needs weight levels in ±1 or ±1/±3, got [%d, %d]", lmin, lmax)
	}
	pp, err := PackPlanePanels(q, l.cout, l.k, nb, code)
	if err != nil {
		return err
	}
	l.pp = pp
	return nil
}

// prepareInt8 packs int8 weight levels for the u8×s8 kernel, with their
// row sums for the input quantizer's offset.
func (l *linear) prepareInt8(levels []int8) error {
	if !l.q.HasCodes() || l.q.MaxCode() > 255 {
		return fmt.Errorf("kernel int8 needs input codes of at most 8 bits, input quantizer is %s", l.q)
	}
	s8, err := PackS8Panels(levels, l.cout, l.k)
	if err != nil {
		return err
	}
	l.s8 = s8
	l.lsum = make([]int32, l.cout)
	for o := range l.lsum {
		var s int32
		for _, v := range levels[o*l.k : (o+1)*l.k] {
			s += int32(v)
		}
		l.lsum[o] = s
	}
	l.winoPrepare(levels)
	return nil
}

func (l *linear) convShape(n int) gemm.ConvShape {
	return gemm.ConvShape{N: n, H: l.h, W: l.w, C: l.cin, KH: l.kh, KW: l.kw, StrideH: l.stride, StrideW: l.stride, PadH: l.pad, PadW: l.pad}
}

func (l *linear) pointwise() bool {
	return l.kh == 1 && l.kw == 1 && l.stride == 1 && l.pad == 0
}

func (l *linear) forward(e *exec, x []float32, n int) ([]float32, error) {
	s := &e.slots[l.slot]
	rows := n * l.oh * l.ow
	var y []float32
	if e.last == layer(l) && len(e.final) == rows*l.cout {
		y = e.final // the model's output: written in place, not copied
	} else {
		s.out = growF(s.out, rows*l.cout)
		y = s.out
	}
	var acc []int32
	switch l.kernel {
	case KernelFloat:
		floatLayers.Add(1) // gemm's parts run on the team (teamParts)
		err := l.floatForward(s, y, x, n, rows)
		floatLayers.Add(-1)
		if err != nil {
			return nil, err
		}
	case KernelXNOR:
		var err error
		if acc, err = l.xnor(s, l.packInput(s, x, n), y, rows); err != nil {
			return nil, err
		}
	case KernelBitSerial, KernelInt8:
		acc = l.integerForward(s, y, x, n, rows)
	}
	if e.trace != nil {
		t := Trace{Name: l.name, Kernel: l.kernel, N: n, InDims: l.in, In: x, Acc: acc, Out: y}
		if err := e.trace(t); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// packInput packs the signs of x (n samples of the layer's input) into
// the slot's input map.
func (l *linear) packInput(s *slot, x []float32, n int) *Map {
	bm := s.inMap(n, l.h, l.w, l.cin)
	for p := 0; p < n*l.h*l.w; p++ {
		packSigns(bm.Data[p*bm.Words:(p+1)*bm.Words], x[p*l.cin:(p+1)*l.cin])
	}
	return bm
}

// xnor runs an xnor layer on the packed input bm: y = scale1·dot + bias
// over rows output pixels. It returns the accumulators (in s.i32).
func (l *linear) xnor(s *slot, bm *Map, y []float32, rows int) ([]int32, error) {
	s.i32 = grow32(s.i32, rows*l.cout)
	acc := s.i32
	if err := s.conv.Forward(acc, bm); err != nil {
		return nil, fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	for r := 0; r < rows; r++ {
		ar, yr := acc[r*l.cout:(r+1)*l.cout], y[r*l.cout:(r+1)*l.cout]
		for o, d := range ar {
			yr[o] = xnorValue(l.scale1[o], d)
		}
	}
	l.addBias(y, rows)
	return acc, nil
}

func (l *linear) addBias(y []float32, rows int) {
	if l.bias == nil {
		return
	}
	for r := 0; r < rows; r++ {
		yr := y[r*l.cout : (r+1)*l.cout]
		for j, b := range l.bias {
			yr[j] += b
		}
	}
}
