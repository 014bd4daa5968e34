package torch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// ErrNoLayout reports a model without a PyTorch layout.
var ErrNoLayout = errors.New("torch: no PyTorch layout")

// site is a layer with weights, where it sits and what it sees.
type site struct {
	l     layers.Layer
	in    []int // per-sample input shape
	block int   // index of the enclosing top-level residual block; -1 outside one
	short bool  // inside that block's shortcut
}

// sites lists m's Conv2D, Dense and BatchNorm layers in forward order.
func sites(m *models.Model) ([]site, error) {
	var out []site
	block := -1
	var flat []int // the map a Flatten just flattened
	var walk func(l layers.Layer, in []int, depth int, short bool) ([]int, error)
	walk = func(l layers.Layer, in []int, depth int, short bool) ([]int, error) {
		switch c := l.(type) {
		case *layers.Sequential:
			var err error
			for _, x := range c.Layers {
				if in, err = walk(x, in, depth+1, short); err != nil {
					return nil, err
				}
			}
			return in, nil
		case *layers.Residual:
			if depth == 1 {
				block++
			}
			if _, err := walk(c.Body, in, depth+1, short); err != nil {
				return nil, err
			}
			if c.Shortcut != nil {
				if _, err := walk(c.Shortcut, in, depth+1, true); err != nil {
					return nil, err
				}
			}
		case *layers.Flatten:
			flat = append([]int(nil), in...)
			return l.OutShape(in)
		case *layers.Conv2D, *layers.Dense, *layers.BatchNorm:
			b := block
			if depth <= 1 {
				b = -1
			}
			s := site{l: l, in: append([]int(nil), in...), block: b, short: short}
			if _, ok := l.(*layers.Dense); ok && flat != nil {
				s.in = flat // the Dense sees the map PyTorch would flatten as C·H·W
			}
			out = append(out, s)
		}
		flat = nil
		return l.OutShape(in)
	}
	if _, err := walk(m.Net, m.Spec.Input, 0, false); err != nil {
		return nil, fmt.Errorf("torch: %s: %w", m.Spec.Name, err)
	}
	return out, nil
}

// namer gives each site its PyTorch module name.
type namer func(ss []site) ([]string, error)

// layouts maps lowbit model names to their PyTorch naming (doc.go describes them).
var layouts = map[string]namer{
	"lenet5":    numbered(1, false),
	"alexnet":   numbered(1, false),
	"mlp":       numbered(1, false),
	"vgg-small": numbered(0, true),
	"resnet20":  resnetNames,
	"resnet18":  resnetNames,
}

// Models lists the models that have a PyTorch layout.
func Models() []string { return sortedKeys(layouts) }

func kind(l layers.Layer) string {
	switch l.(type) {
	case *layers.Conv2D:
		return "conv"
	case *layers.Dense:
		return "fc"
	}
	return "bn"
}

// numbered names each kind conv, bn, fc by a counter from base in forward order;
// with oneFC a single Linear is "fc" and a BatchNorm after it "fc_bn".
func numbered(base int, oneFC bool) namer {
	return func(ss []site) ([]string, error) {
		count := map[string]int{}
		names := make([]string, len(ss))
		fcs := 0
		for i, s := range ss {
			k := kind(s.l)
			if k == "fc" {
				fcs++
			}
			names[i] = fmt.Sprintf("%s%d", k, base+count[k])
			count[k]++
			if oneFC && fcs > 0 {
				if fcs > 1 || k == "conv" {
					return nil, fmt.Errorf("%s after the classifier", names[i])
				}
				names[i] = map[string]string{"fc": "fc", "bn": "fc_bn"}[k]
			}
		}
		return names, nil
	}
}

// resnetNames gives torchvision's ResNet names: conv1, bn1 (stem), layerS.B.conv1..
// (blocks; a block with a strided first conv starts a stage), layerS.B.downsample.{0,1}
// (projection shortcut), fc and fc_bn (head).
func resnetNames(ss []site) ([]string, error) {
	names := make([]string, len(ss))
	stage, idx, lastBlock := 0, -1, -1
	count := map[string]int{}
	for i, s := range ss {
		k := kind(s.l)
		switch {
		case s.block < 0 && k == "fc":
			names[i] = "fc"
		case s.block < 0 && stage > 0 && k == "bn":
			names[i] = "fc_bn"
		case s.block < 0:
			if stage > 0 {
				return nil, fmt.Errorf("a %s between residual blocks", k)
			}
			count[k]++
			names[i] = fmt.Sprintf("%s%d", k, count[k])
		default:
			if s.block != lastBlock {
				conv, ok := s.l.(*layers.Conv2D)
				if !ok {
					return nil, fmt.Errorf("residual block %d starts with a %s", s.block, k)
				}
				if stage == 0 || conv.Config().Stride > 1 {
					stage, idx = stage+1, 0
				} else {
					idx++
				}
				lastBlock = s.block
				count = map[string]int{}
			}
			prefix := fmt.Sprintf("layer%d.%d.", stage, idx)
			if s.short {
				names[i] = prefix + map[string]string{"conv": "downsample.0", "bn": "downsample.1"}[k]
				continue
			}
			count[k]++
			names[i] = fmt.Sprintf("%s%s%d", prefix, k, count[k])
		}
	}
	return names, nil
}

// entry is one state_dict tensor of a model: its PyTorch name and shape, and where
// its values live in lowbit.
type entry struct {
	name  string
	shape []int
	data  []float32
	perm  perm
}

// perm converts between PyTorch's and lowbit's order of one tensor.
type perm struct {
	conv    bool // OIHW ↔ OHWI
	o, i, k int
	chw     bool // Linear after a map: columns C·H·W ↔ H·W·C
	h, w, c int
}

// Layout lists the state_dict entries of m's PyTorch layout (name, PyTorch shape) in
// forward order, without num_batches_tracked.
func Layout(m *models.Model) ([]string, [][]int, error) {
	es, err := entries(m)
	if err != nil {
		return nil, nil, err
	}
	names, shapes := make([]string, len(es)), make([][]int, len(es))
	for i, e := range es {
		names[i], shapes[i] = e.name, e.shape
	}
	return names, shapes, nil
}

func entries(m *models.Model) ([]entry, error) {
	name, ok := layouts[m.Spec.Name]
	if !ok {
		return nil, fmt.Errorf("%w for model %s (known: %s)", ErrNoLayout, m.Spec.Name, strings.Join(Models(), ", "))
	}
	ss, err := sites(m)
	if err != nil {
		return nil, err
	}
	prefixes, err := name(ss)
	if err != nil {
		return nil, fmt.Errorf("torch: %s: %w", m.Spec.Name, err)
	}
	var out []entry
	for i, s := range ss {
		out = append(out, siteEntries(prefixes[i], s)...)
	}
	seen := map[string]bool{}
	for _, e := range out {
		if seen[e.name] {
			return nil, fmt.Errorf("torch: %s: layout names %s twice", m.Spec.Name, e.name)
		}
		seen[e.name] = true
	}
	return out, nil
}

func siteEntries(p string, s site) []entry {
	var out []entry
	switch l := s.l.(type) {
	case *layers.Conv2D:
		c := l.Config()
		pm := perm{conv: true, o: c.Out, i: c.In, k: c.Kernel}
		out = append(out, entry{p + ".weight", []int{c.Out, c.In, c.Kernel, c.Kernel}, l.W.Data(), pm})
		if l.B != nil {
			out = append(out, entry{p + ".bias", []int{c.Out}, l.B.Data(), perm{}})
		}
	case *layers.Dense:
		c := l.Config()
		var pm perm
		if len(s.in) == 3 && s.in[0]*s.in[1] > 1 && s.in[2] > 1 {
			pm = perm{chw: true, o: c.Out, h: s.in[0], w: s.in[1], c: s.in[2]}
		}
		out = append(out, entry{p + ".weight", []int{c.Out, c.In}, l.W.Data(), pm})
		if l.B != nil {
			out = append(out, entry{p + ".bias", []int{c.Out}, l.B.Data(), perm{}})
		}
	case *layers.BatchNorm:
		n := l.Config().C
		if l.Gamma != nil {
			out = append(out, entry{p + ".weight", []int{n}, l.Gamma.Data(), perm{}})
		}
		out = append(out,
			entry{p + ".bias", []int{n}, l.Beta.Data(), perm{}},
			entry{p + ".running_mean", []int{n}, l.RunMean, perm{}},
			entry{p + ".running_var", []int{n}, l.RunVar, perm{}})
	}
	return out
}

// toLowbit copies src (PyTorch order) into dst (lowbit order).
func (p perm) toLowbit(dst, src []float32) { p.apply(dst, src, true) }

// toTorch copies src (lowbit order) into dst (PyTorch order).
func (p perm) toTorch(dst, src []float32) { p.apply(dst, src, false) }

func (p perm) apply(dst, src []float32, toLowbit bool) {
	move := func(t, l int) { // t: PyTorch index, l: lowbit index
		if toLowbit {
			dst[l] = src[t]
		} else {
			dst[t] = src[l]
		}
	}
	switch {
	case p.conv: // [o][i][y][x] ↔ [o][y][x][i]
		for o := range p.o {
			for i := range p.i {
				for y := range p.k {
					for x := range p.k {
						move(((o*p.i+i)*p.k+y)*p.k+x, ((o*p.k+y)*p.k+x)*p.i+i)
					}
				}
			}
		}
	case p.chw: // row o: [c][y][x] ↔ [y][x][c]
		in := p.h * p.w * p.c
		for o := range p.o {
			for c := range p.c {
				for y := range p.h {
					for x := range p.w {
						move(o*in+(c*p.h+y)*p.w+x, o*in+(y*p.w+x)*p.c+c)
					}
				}
			}
		}
	default:
		copy(dst, src)
	}
}
