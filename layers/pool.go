package layers

import (
	"fmt"

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
	argmax []int32 // max pool: input index of each output's maximum
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

func (k *poolKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	s := in[0].Shape
	n, h, w, c := s[0], s[1], s[2], s[3]
	kh, kw, st := k.layer.window(h, w)
	oh, ow := out.Shape[1], out.Shape[2]
	x, y := in[0].Data, out.Data
	if k.layer.max {
		if cap(k.argmax) < len(y) {
			k.argmax = make([]int32, len(y))
		}
		k.argmax = k.argmax[:len(y)]
	}
	inv := 1 / float32(kh*kw)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				o := ((b*oh+i)*ow + j) * c
				dst := y[o : o+c]
				for di := 0; di < kh; di++ {
					for dj := 0; dj < kw; dj++ {
						src := ((b*h+i*st+di)*w + j*st + dj) * c
						row := x[src : src+c]
						first := di == 0 && dj == 0
						if k.layer.max {
							am := k.argmax[o : o+c]
							for ch, v := range row {
								if first || v > dst[ch] {
									dst[ch] = v
									am[ch] = int32(src + ch)
								}
							}
						} else if first {
							copy(dst, row)
						} else {
							for ch, v := range row {
								dst[ch] += v
							}
						}
					}
				}
				if !k.layer.max {
					for ch := range dst {
						dst[ch] *= inv
					}
				}
			}
		}
	}
	return nil
}

func (k *poolKernel) DiffWRT(int) bool { return true }

func (k *poolKernel) Backward(_ int, d graphop.Tensor, in []graphop.Tensor, out, gt graphop.Tensor) error {
	clear(d.Data)
	g := gt.Data
	if k.layer.max {
		for i, src := range k.argmax[:len(g)] {
			d.Data[src] += g[i]
		}
		return nil
	}
	s := in[0].Shape
	n, h, w, c := s[0], s[1], s[2], s[3]
	kh, kw, st := k.layer.window(h, w)
	oh, ow := out.Shape[1], out.Shape[2]
	inv := 1 / float32(kh*kw)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				o := ((b*oh+i)*ow + j) * c
				for di := 0; di < kh; di++ {
					for dj := 0; dj < kw; dj++ {
						src := ((b*h+i*st+di)*w + j*st + dj) * c
						row := d.Data[src : src+c]
						for ch := range row {
							row[ch] += g[o+ch] * inv
						}
					}
				}
			}
		}
	}
	return nil
}
