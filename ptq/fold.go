package ptq

import (
	"fmt"
	"math"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// site is one conv or dense layer with the BatchNorm that directly follows it
// (nil when none), in execution order.
type site struct {
	layer layers.Layer
	bn    *layers.BatchNorm
}

// sites lists the conv and dense layers of m in execution order.
func sites(m *models.Model) []site {
	var out []site
	var walk func(ls []layers.Layer)
	walk = func(ls []layers.Layer) {
		for i, l := range ls {
			switch v := l.(type) {
			case *layers.Sequential:
				walk(v.Layers)
			case *layers.Residual:
				walk([]layers.Layer{v.Body})
				if v.Shortcut != nil {
					walk([]layers.Layer{v.Shortcut})
				}
			case *layers.Conv2D, *layers.Dense:
				s := site{layer: l}
				if i+1 < len(ls) {
					s.bn, _ = ls[i+1].(*layers.BatchNorm)
				}
				out = append(out, s)
			}
		}
	}
	walk(m.Net.Layers)
	return out
}

// weightsOf returns a conv or dense layer's latent weights, bias (nil if none) and rows.
func weightsOf(l layers.Layer) (w, b *layers.Param, rows int) {
	switch v := l.(type) {
	case *layers.Conv2D:
		return v.W, v.B, v.Config().Out
	case *layers.Dense:
		return v.W, v.B, v.Config().Out
	}
	return nil, nil, 0
}

// FoldBN folds every BatchNorm that directly follows a conv or dense layer into
// that layer's weights (see the package doc). The BatchNorm stays in the model as
// a per-channel shift: γ = 1, μ = 0 and a variance v with float32(1/√(v+ε)) = 1
// exactly, so the graph, the packed engine and the quantized model all compute
// W'·x + β'. It returns the number of folded layers.
func FoldBN(m *models.Model) (int, error) {
	n := 0
	for _, s := range sites(m) {
		if s.bn == nil {
			continue
		}
		if err := fold(s.layer, s.bn); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func fold(l layers.Layer, bn *layers.BatchNorm) error {
	w, b, rows := weightsOf(l)
	c := bn.Config()
	if c.C != rows {
		return fmt.Errorf("ptq: %s: BatchNorm %s has %d channels for %d outputs", l.Name(), bn.Name(), c.C, rows)
	}
	one, err := unitVar(c.Eps)
	if err != nil {
		return fmt.Errorf("ptq: %s: %w", bn.Name(), err)
	}
	gamma, beta := bn.Scale(), bn.Beta.Data()
	wd := w.Data()
	k := len(wd) / rows
	for o := 0; o < rows; o++ {
		a := float64(gamma[o]) / math.Sqrt(float64(bn.RunVar[o])+float64(c.Eps))
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("ptq: %s: channel %d has BatchNorm scale %g", bn.Name(), o, a)
		}
		for i := o * k; i < (o+1)*k; i++ {
			wd[i] = float32(float64(wd[i]) * a)
		}
		shift := -float64(bn.RunMean[o])
		if b != nil {
			shift += float64(b.Data()[o])
			b.Data()[o] = 0
		}
		beta[o] = float32(float64(beta[o]) + shift*a)
		bn.RunMean[o], bn.RunVar[o] = 0, one
		if bn.Gamma != nil {
			bn.Gamma.Data()[o] = 1
		}
	}
	return nil
}

// unitVar returns a float32 variance v with float32(1/√(float64(v)+float64(eps))) == 1,
// the inverse standard deviation BatchNorm and the packed engine compute.
func unitVar(eps float32) (float32, error) {
	v := float32(1 - float64(eps))
	for range 64 {
		inv := float32(1 / math.Sqrt(float64(v)+float64(eps)))
		switch {
		case inv == 1:
			return v, nil
		case inv < 1:
			v = math.Nextafter32(v, 0)
		default:
			v = math.Nextafter32(v, 2)
		}
	}
	return 0, fmt.Errorf("no variance gives a unit scale with eps %g", eps)
}

// Site is a conv or dense layer and the BatchNorm directly after it (nil if none).
type Site struct {
	Layer layers.Layer
	BN    *layers.BatchNorm
}

// Sites lists m's conv and dense layers in execution order (a residual block's body
// before its shortcut), each with the BatchNorm that FoldBN would fold into it.
func Sites(m *models.Model) []Site {
	var out []Site
	for _, s := range sites(m) {
		out = append(out, Site{s.layer, s.bn})
	}
	return out
}
