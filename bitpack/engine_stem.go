package bitpack

import (
	"errors"
	"fmt"

	"github.com/lowbit/lowbit/internal/gemm"
)

// fusedStem is a float conv whose output only a max pool reads, through
// BatchNorm and activation layers (ResNet-18's stem: conv 7×7/2 → BN →
// ReLU → max pool 2×2/2): the pool, with those layers as its pre stages,
// runs on each band of conv output rows as gemm's direct convolution
// finishes it, while the band is still in cache, instead of after the
// whole output (3 MB at 224 px) has gone out to memory and back. Each
// element goes through the same float32 operations in the same order as
// the unfused layers (conv, + bias, the stages, the window's max in
// order), so the pool's output has the same bits. Shapes the direct
// convolution does not take run the two layers one after the other.
type fusedStem struct {
	conv *linear
	pool *poolLayer // non-overlapping windows: kh ≤ stride
}

// stemAt returns the fused stem starting at the float conv ls[i] and the
// index of its pool, or nil when ls[i] does not start one.
func stemAt(ls []layer, i int) (*fusedStem, int) {
	l, ok := ls[i].(*linear)
	if !ok || l.kernel != KernelFloat || l.dense || l.pointwise() {
		return nil, 0
	}
	j := ewRun(ls, i+1)
	p, ok := at(ls, j).(*poolLayer)
	if !ok || !p.max || p.kh > p.st || p.pre != nil {
		return nil, 0
	}
	st, ok := stagesOf(ls[i+1 : j])
	if !ok {
		return nil, 0
	}
	np := *p
	np.pre = st
	return &fusedStem{conv: l, pool: &np}, j
}

func (f *fusedStem) forward(e *exec, x []float32, n int) ([]float32, error) {
	l, p := f.conv, f.pool
	s, ps := &e.slots[l.slot], &e.slots[p.slot]
	xq := l.quantized(s, x)
	c, rowLen := l.cout, l.ow*l.cout
	s.out = growF(s.out, n*l.oh*rowLen)
	y := s.out
	ps.out = growF(ps.out, n*p.oh*p.ow*c)
	py := ps.out
	pm := ps.packMap(p.packTo, n)
	if p.pre != nil { // poolRow's scratch, one row per pool output row
		ps.f32 = growF(ps.f32, n*p.oh*c)
	}
	bufs := ps.f32
	if l.wfp == nil { // packing failed: floatForward's fallback
		return f.unfused(e, x, n)
	}
	floatLayers.Add(1) // gemm's parts run on the team (teamParts)
	err := gemm.ConvForwardRows(l.convShape(n), xq, l.wfp, y, p.st, func(b, y0, y1 int) {
		l.addBias(y[(b*l.oh+y0)*rowLen:], (y1-y0)*l.ow)
		i0, i1 := y0/p.st, 0
		if y1 >= p.kh {
			i1 = min(p.oh, (y1-p.kh)/p.st+1)
		}
		for i := i0; i < i1; i++ {
			var buf []float32
			if p.pre != nil {
				buf = bufs[(b*p.oh+i)*c:][:c]
			}
			p.poolRow(py, y, b, i, buf)
		}
		if pm != nil && i1 > i0 {
			packRows(pm, py, c, (b*p.oh+i0)*p.ow, (b*p.oh+i1)*p.ow)
		}
	})
	floatLayers.Add(-1)
	if errors.Is(err, gemm.ErrNotDirect) {
		return f.unfused(e, x, n)
	}
	if err != nil {
		return nil, fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	if pm != nil {
		e.packs.put(py, pm)
	}
	return py, nil
}

// unfused runs the conv, then the pool with its stages.
func (f *fusedStem) unfused(e *exec, x []float32, n int) ([]float32, error) {
	y, err := f.conv.forward(e, x, n)
	if err != nil {
		return nil, err
	}
	return f.pool.forward(e, y, n)
}
