package ptq

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// quantLayer is what Conv2D and Dense offer a post-training quantizer.
type quantLayer interface {
	layers.Layer
	Quantizers() (weights, inputs ste.Quantizer)
	WeightQuantizer() (ste.Func, []*layers.Param)
	InputQuantizer() (ste.Func, []*layers.Param)
	QuantizedWeights() ([]float32, error)
}

// plan is one quantized layer and what calibration learns about it.
type plan struct {
	name      string
	q         quantLayer
	bias      []float32 // where bias correction goes: the layer's bias or its folded BatchNorm shift
	w         []float32 // the folded float weights, [rows][k]
	rows, k   int
	conv      *gemm.ConvShape // nil for dense; N is set per batch
	iq        ste.Func
	iqp       []*layers.Param
	igrid     Grid
	wq        ste.Func
	wqp       []*layers.Param
	wgrid     Grid
	perRow    bool
	stats     inputStats
	mean      []float64 // mean input patch, float and quantized inputs
	meanQ     []float64
	patchRows int
	picks     []int     // sampled global patch rows (sorted)
	patches   []float32 // the sampled float patches, [len(picks)][k]
	rep       LayerReport
}

// planLayers pairs each quantized conv/dense layer of qm with its folded weights in fp.
func planLayers(fp, qm *models.Model) ([]*plan, error) {
	fs, qs := sites(fp), sites(qm)
	if len(fs) != len(qs) {
		return nil, fmt.Errorf("ptq: %d layers in the float model, %d in the quantized one", len(fs), len(qs))
	}
	var out []*plan
	for i, s := range qs {
		q := s.layer.(quantLayer)
		wqz, iqz := q.Quantizers()
		if wqz == nil && iqz == nil {
			continue
		}
		w, _, rows := weightsOf(fs[i].layer)
		p := &plan{name: q.Name(), q: q, w: append([]float32(nil), w.Data()...), rows: rows, k: len(w.Data()) / rows}
		if _, qb, _ := weightsOf(q); qb != nil {
			p.bias = qb.Data()
		} else if s.bn != nil {
			p.bias = s.bn.Beta.Data()
		}
		if c, ok := q.(*layers.Conv2D); ok {
			cc := c.Config()
			p.conv = &gemm.ConvShape{KH: cc.Kernel, KW: cc.Kernel, C: cc.In, StrideH: cc.Stride, StrideW: cc.Stride, PadH: cc.Pad, PadW: cc.Pad}
		}
		var err error
		if iqz != nil {
			p.iq, p.iqp = q.InputQuantizer()
			if p.igrid, _, err = gridOf(iqz, p.iq, p.iqp, ste.Inputs, 0); err != nil {
				return nil, fmt.Errorf("ptq: %s: %w", p.name, err)
			}
		}
		if wqz != nil {
			p.wq, p.wqp = q.WeightQuantizer()
			if p.wgrid, p.perRow, err = gridOf(wqz, p.wq, p.wqp, ste.Weights, rows); err != nil {
				return nil, fmt.Errorf("ptq: %s: %w", p.name, err)
			}
		}
		p.rep.Name = p.name
		out = append(out, p)
	}
	return out, nil
}

// gridOf reads a quantizer's grid from its self-description; the quantizers ptq
// builds (LSQ, learned-step Scaled) hold their step(s) in their one parameter.
func gridOf(q ste.Quantizer, f ste.Func, ps []*layers.Param, role ste.Role, rows int) (Grid, bool, error) {
	if f == nil || len(ps) != 1 || (len(ps[0].Data()) != 1 && len(ps[0].Data()) != rows) {
		return Grid{}, false, fmt.Errorf("%w: quantizer %s has no stored step to calibrate", ErrConfig, q)
	}
	g := Grid{Bits: q.BitsFor(role), Signed: role == ste.Weights || q.Symmetric()}
	return g, len(ps[0].Data()) > 1, nil
}
