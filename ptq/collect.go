package ptq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/ste"
)

// sampleCap bounds the input values kept per layer for the percentile and MSE
// clips (a strided subsample of all values; the maximum is always exact).
const sampleCap = 1 << 18

// traceChunk is the number of calibration images per engine call.
const traceChunk = 32

type inputStats struct {
	max, min float32
	sample   []float32
	stride   int
	hist     []float64
	width    float64
}

// tracePass runs the float engine over the calibration images and calls f for
// every planned layer with its input and the index of the chunk's first image.
func tracePass(bm *bitpack.Model, c Calib, plans []*plan, f func(p *plan, t bitpack.Trace, off int) error) error {
	by := map[string]*plan{}
	for _, p := range plans {
		by[p.name] = p
	}
	n := len(c.Labels)
	per := len(c.X) / n
	for off := 0; off < n; off += traceChunk {
		b := min(traceChunk, n-off)
		_, err := bm.Trace(c.X[off*per:(off+b)*per], b, func(t bitpack.Trace) error {
			if p := by[t.Name]; p != nil {
				return f(p, t, off)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ptq: calibration forward: %w", err)
		}
	}
	return nil
}

// calibrateInputs sets every quantized layer's input step from the calibration set.
func calibrateInputs(bm *bitpack.Model, c Calib, plans []*plan, cfg Config) error {
	n := len(c.Labels)
	err := tracePass(bm, c, plans, func(p *plan, t bitpack.Trace, off int) error {
		s := &p.stats
		if s.stride == 0 {
			total := n * (len(t.In) / t.N)
			s.stride = max(1, (total+sampleCap-1)/sampleCap)
			s.min = t.In[0]
		}
		base := off * (len(t.In) / t.N)
		for i, v := range t.In {
			s.max, s.min = max(s.max, abs32(v)), min(s.min, v)
			if (base+i)%s.stride == 0 {
				s.sample = append(s.sample, v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cfg.Method == Entropy {
		if err := histPass(bm, c, plans); err != nil {
			return err
		}
	}
	for _, p := range plans {
		if p.iq == nil {
			continue
		}
		if err := p.setInputStep(cfg, n); err != nil {
			return err
		}
	}
	return nil
}

func histPass(bm *bitpack.Model, c Calib, plans []*plan) error {
	for _, p := range plans {
		p.stats.hist = make([]float64, HistBins)
		p.stats.width = float64(p.stats.max) / HistBins
	}
	return tracePass(bm, c, plans, func(p *plan, t bitpack.Trace, _ int) error {
		s := &p.stats
		if s.width == 0 {
			return nil
		}
		for _, v := range t.In {
			s.hist[min(int(float64(abs32(v))/s.width), HistBins-1)]++
		}
		return nil
	})
}

// setInputStep picks the clip by the method and stores the step in the layer's quantizer.
func (p *plan) setInputStep(cfg Config, n int) error {
	s := &p.stats
	if s.max == 0 {
		return fmt.Errorf("%w: layer %s: its inputs are all zero on the %d calibration images, so no input step can be calibrated (a dead layer, or a calibration set that does not reach it)", ErrCalib, p.name, n)
	}
	var clip float32
	var err error
	switch cfg.Method {
	case Max:
		clip = s.max
	case Entropy:
		clip, err = EntropyClip(s.hist, s.width, p.igrid)
	default:
		clip, err = ClipOf(cfg.Method, s.sample, p.igrid, cfg.Percentile)
	}
	if err != nil {
		return fmt.Errorf("ptq: layer %s: %w", p.name, err)
	}
	if !(clip > 0) || math.IsInf(float64(clip), 0) {
		p.rep.Note = fmt.Sprintf("%v clip %g; max used", cfg.Method, clip)
		clip = s.max
	}
	if !p.igrid.Signed && s.min < 0 {
		p.rep.Note = fmt.Sprintf("inputs reach %.3g but the input quantizer is unsigned: negatives clip to 0", s.min)
	}
	_, qp := p.igrid.Levels()
	p.iqp[0].Data()[0] = clip / qp
	p.rep.InClip, p.rep.InStep, p.rep.InMax = clip, clip/qp, s.max
	s.sample, s.hist = nil, nil
	return nil
}

// patchPass accumulates each layer's mean input patch (float and quantized) and
// samples cfg.Rows patches for AdaRound.
func patchPass(bm *bitpack.Model, c Calib, plans []*plan, cfg Config) error {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9a7c))
	var col, colQ, xq []float32
	return tracePass(bm, c, plans, func(p *plan, t bitpack.Trace, off int) error {
		rows := t.N
		var cs gemm.ConvShape
		if p.conv != nil {
			cs = *p.conv
			cs.N, cs.H, cs.W = t.N, t.InDims[0], t.InDims[1]
			rows = t.N * cs.OutH() * cs.OutW()
		}
		if p.mean == nil {
			p.mean, p.meanQ = make([]float64, p.k), make([]float64, p.k)
			p.patchRows = rows / t.N * len(c.Labels)
			p.picks = make([]int, min(cfg.Rows, p.patchRows))
			for i := range p.picks {
				p.picks[i] = rng.IntN(p.patchRows)
			}
			slices.Sort(p.picks)
		}
		xq = grow(xq, len(t.In))
		copy(xq, t.In)
		if p.iq != nil {
			if err := p.iq.Forward(xq, t.In, [][]float32{p.iqp[0].Data()}, ste.Ctx{Rows: t.N}); err != nil {
				return fmt.Errorf("ptq: %s: %w", p.name, err)
			}
		}
		x, q := t.In, xq
		if p.conv != nil {
			col, colQ = grow(col, rows*p.k), grow(colQ, rows*p.k)
			gemm.Im2col(cs, t.In, col)
			gemm.Im2col(cs, xq, colQ)
			x, q = col, colQ
		}
		addCols(p.mean, x, p.k)
		addCols(p.meanQ, q, p.k)
		first := off * (rows / t.N)
		i0, _ := slices.BinarySearch(p.picks, first)
		for i := i0; i < len(p.picks) && p.picks[i] < first+rows; i++ {
			r := p.picks[i] - first
			p.patches = append(p.patches, x[r*p.k:(r+1)*p.k]...)
		}
		return nil
	})
}

func addCols(sum []float64, x []float32, k int) {
	for r := 0; r+k <= len(x); r += k {
		for j, v := range x[r : r+k] {
			sum[j] += float64(v)
		}
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
