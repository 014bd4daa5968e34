package layers

import (
	"fmt"
	"github.com/lowbit/lowbit/internal/parallel"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// PoolConfig configures MaxPool and AvgPool over NHWC maps (no padding).
type PoolConfig struct {
	Size   int // window (square); 0 means 2
	Stride int // 0 means Size
	// Global pools the whole map (Size and Stride are ignored); AvgPool only.
	Global bool
}

func (c PoolConfig) norm() PoolConfig {
	if c.Size == 0 {
		c.Size = 2
	}
	if c.Stride == 0 {
		c.Stride = c.Size
	}
	return c
}

// Pool is MaxPool or AvgPool.
type Pool struct {
	name string
	max  bool
	cfg  PoolConfig
}

// MaxPool takes the maximum over each window: y = max_{window} x; the gradient goes to the first maximum.
func MaxPool(name string, cfg PoolConfig) *Pool { return &Pool{name: name, max: true, cfg: cfg.norm()} }

// AvgPool takes the mean over each window: y = (1/k²)·Σ_{window} x.
func AvgPool(name string, cfg PoolConfig) *Pool { return &Pool{name: name, cfg: cfg.norm()} }

func (l *Pool) Name() string       { return l.name }
func (l *Pool) Params() []*Param   { return nil }
func (l *Pool) IsMax() bool        { return l.max }
func (l *Pool) Config() PoolConfig { return l.cfg }

func (l *Pool) window(h, w int) (kh, kw, s int) {
	if l.cfg.Global {
		return h, w, 1
	}
	return l.cfg.Size, l.cfg.Size, l.cfg.Stride
}

func (l *Pool) OutShape(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, shapeErr(l.name, "input %v, want HWC", in)
	}
	kh, kw, s := l.window(in[0], in[1])
	if l.cfg.Global && l.max {
		return nil, shapeErr(l.name, "global max pooling is not supported")
	}
	if in[0] < kh || in[1] < kw {
		return nil, shapeErr(l.name, "input %v smaller than window %dx%d", in, kh, kw)
	}
	return []int{(in[0]-kh)/s + 1, (in[1]-kw)/s + 1, in[2]}, nil
}

func (l *Pool) Forward(g *Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	return graphop.Apply(&poolKernel{layer: l}, x)
}

type poolKernel struct {
	layer  *Pool
	routed []float32 // max-pool backward scratch, one flag per output value
}

func (k *poolKernel) String() string {
	kind := "avgpool"
	if k.layer.max {
		kind = "maxpool"
	}
	return fmt.Sprintf("%s:%s(%d/%d)", k.layer.name, kind, k.layer.cfg.Size, k.layer.cfg.Stride)
}

func (k *poolKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 4 {
		return nil, shapeErr(k.layer.name, "input %v, want NHWC", in[0])
	}
	o, err := k.layer.OutShape(in[0][1:])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{in[0][0], o[0], o[1], o[2]}, nil
}

// geometry of one pooling call
type poolGeom struct{ n, h, w, c, kh, kw, st, oh, ow int }

func (k *poolKernel) geom(in, out tensor.Shape) poolGeom {
	kh, kw, st := k.layer.window(in[1], in[2])
	return poolGeom{in[0], in[1], in[2], in[3], kh, kw, st, out[1], out[2]}
}

// forEachWindow calls fn(o, src, first) for every output row offset o and every
// input row offset src of its window, in window order, split over cores by output
// rows when windows cannot overlap (stride ≥ window), else on one goroutine.
func (g poolGeom) forEachWindow(fn func(o, src int, first bool)) {
	g.forEachWindowPrep(nil, fn)
}

// forEachWindowPrep is forEachWindow calling prep(lo, hi), when set,
// first on each chunk of output rows lo..hi (indexed over the batch, n·oh
// of them).
func (g poolGeom) forEachWindowPrep(prep func(lo, hi int), fn func(o, src int, first bool)) {
	rows := func(_, lo, hi int) {
		if prep != nil {
			prep(lo, hi)
		}
		for bi := lo; bi < hi; bi++ {
			b, i := bi/g.oh, bi%g.oh
			for j := 0; j < g.ow; j++ {
				o := (bi*g.ow + j) * g.c
				for di := 0; di < g.kh; di++ {
					for dj := 0; dj < g.kw; dj++ {
						fn(o, ((b*g.h+i*g.st+di)*g.w+j*g.st+dj)*g.c, di == 0 && dj == 0)
					}
				}
			}
		}
	}
	if g.st < g.kh || g.st < g.kw {
		rows(0, 0, g.n*g.oh)
		return
	}
	parallel.Rows(g.n*g.oh, g.ow*g.c*g.kh*g.kw, rows)
}

// clearInputRows zeroes the input rows that output rows lo..hi's windows
// start in, up to the next window's first row (or the image's end after
// its last window): over all output rows, every input row once.
func (g poolGeom) clearInputRows(dx []float32, lo, hi int) {
	rowLen := g.w * g.c
	for bi := lo; bi < hi; bi++ {
		b, i := bi/g.oh, bi%g.oh
		end := (i + 1) * g.st
		if i == g.oh-1 {
			end = g.h
		}
		clear(dx[(b*g.h+i*g.st)*rowLen : (b*g.h+min(end, g.h))*rowLen])
	}
}

func (k *poolKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	g := k.geom(in[0].Shape, out.Shape)
	x, y, c := in[0].Data, out.Data, g.c
	isMax := k.layer.max
	g.forEachWindow(func(o, src int, first bool) {
		dst, row := y[o:o+c], x[src:src+c]
		switch {
		case first:
			copy(dst, row)
		case isMax:
			for ch, v := range row {
				dst[ch] = max(dst[ch], v)
			}
		default:
			for ch, v := range row {
				dst[ch] += v
			}
		}
	})
	if !isMax {
		inv := 1 / float32(g.kh*g.kw)
		for i := range y {
			y[i] *= inv
		}
	}
	return nil
}

func (k *poolKernel) DiffWRT(int) bool { return true }

// Backward: max pooling sends g to the first window element equal to the maximum
// (found again here rather than stored as argmax indices); average pooling spreads g/k².
func (k *poolKernel) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, out, gt graphop.Tensor) error {
	geo := k.geom(in[0].Shape, out.Shape)
	x, y, g, dx, c := in[0].Data, out.Data, gt.Data, d.Data, geo.c
	var routed []float32
	if k.layer.max {
		k.routed = grow(k.routed, len(y))
		routed = k.routed
	}
	// The gradient and the routing marks start at zero. Windows that
	// cannot overlap clear their own rows in their parallel chunks
	// (ResNet-18's stem pool cleared 103 MB on one core); others clear
	// everything first.
	prep := func(lo, hi int) {
		geo.clearInputRows(dx, lo, hi)
		if routed != nil {
			clear(routed[lo*geo.ow*c : hi*geo.ow*c])
		}
	}
	if geo.st < geo.kh || geo.st < geo.kw {
		prep(0, geo.n*geo.oh)
		prep = nil
	}
	if !k.layer.max {
		inv := 1 / float32(geo.kh*geo.kw)
		geo.forEachWindowPrep(prep, func(o, src int, _ bool) {
			gs, ds := g[o:o+c], dx[src:src+c]
			for ch := range ds {
				ds[ch] += gs[ch] * inv
			}
		})
		return nil
	}
	// Per output, a channel is routed once: routed[o+ch] marks it (indexed like the
	// output, so parallel chunks do not share state).
	geo.forEachWindowPrep(prep, func(o, src int, _ bool) {
		row, ys, gs, ds, done := x[src:src+c], y[o:o+c], g[o:o+c], dx[src:src+c], routed[o:o+c]
		for ch, v := range row {
			// Branch-free: hit is 1 for the first element equal to the maximum.
			hit := float32(b2i(v == ys[ch])) * (1 - done[ch])
			ds[ch] += gs[ch] * hit
			done[ch] += hit
		}
	})
	return nil
}
