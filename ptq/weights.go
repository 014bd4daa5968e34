package ptq

import (
	"fmt"
	"math"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/ste"
)

// quantizeWeights sets the weight steps, rounds (to nearest or by AdaRound) and
// corrects the biases.
func quantizeWeights(bm *bitpack.Model, c Calib, plans []*plan, cfg Config) error {
	for _, p := range plans {
		if p.wq != nil {
			if err := p.setWeightSteps(cfg); err != nil {
				return err
			}
		}
	}
	if !cfg.AdaRound && !cfg.BiasCorrect {
		return nil
	}
	if err := patchPass(bm, c, plans, cfg); err != nil {
		return err
	}
	for i, p := range plans {
		if p.wq != nil {
			if err := p.round(cfg, cfg.Seed+uint64(i)); err != nil {
				return err
			}
		}
		if cfg.BiasCorrect {
			if err := p.correctBias(); err != nil {
				return err
			}
		}
		p.patches, p.mean, p.meanQ = nil, nil, nil
	}
	return nil
}

// setWeightSteps stores one step per layer or per output channel, s = c/Q_P with c
// the weight method's clip of the folded weights. An all-zero channel gets step 1.
func (p *plan) setWeightSteps(cfg Config) error {
	_, qp := p.wgrid.Levels()
	steps := p.wqp[0].Data()
	groups, n := 1, len(p.w)
	if p.perRow {
		groups, n = p.rows, p.k
	}
	if len(steps) != groups {
		return fmt.Errorf("ptq: %s: %d weight steps for %d groups", p.name, len(steps), groups)
	}
	for g := range groups {
		clip, err := ClipOf(cfg.WMethod, p.w[g*n:(g+1)*n], p.wgrid, cfg.Percentile)
		if err != nil {
			return fmt.Errorf("ptq: %s: weights: %w", p.name, err)
		}
		steps[g] = 1
		if clip > 0 {
			steps[g] = clip / qp
		}
	}
	p.rep.WSteps = [2]float32{steps[0], steps[0]}
	for _, s := range steps {
		p.rep.WSteps[0], p.rep.WSteps[1] = min(p.rep.WSteps[0], s), max(p.rep.WSteps[1], s)
	}
	return nil
}

// round reports nearest rounding's reconstruction error and, with AdaRound, replaces
// the layer's latent weights by the learned grid points.
func (p *plan) round(cfg Config, seed uint64) error {
	nearest, err := p.q.QuantizedWeights()
	if err != nil {
		return fmt.Errorf("ptq: %w", err)
	}
	r := len(p.patches) / p.k
	if r == 0 {
		return nil
	}
	x := append([]float32(nil), p.patches...)
	if p.iq != nil {
		if err := p.iq.Forward(x, p.patches, [][]float32{p.iqp[0].Data()}, ste.Ctx{Rows: r}); err != nil {
			return fmt.Errorf("ptq: %s: %w", p.name, err)
		}
	}
	y := make([]float32, r*p.rows)
	if err := gemm.Sgemm(false, true, r, p.rows, p.k, 1, p.patches, p.k, p.w, p.k, 0, y, p.rows); err != nil {
		return fmt.Errorf("ptq: %s: %w", p.name, err)
	}
	p.rep.RecNearest = ReconLoss(nearest, p.rows, p.k, x, y)
	if !cfg.AdaRound {
		return nil
	}
	steps := p.wqp[0].Data()
	levels, err := AdaRound(p.w, p.rows, p.k, steps, p.wgrid, x, y, cfg.Ada, seed)
	if err != nil {
		return fmt.Errorf("ptq: %s: %w", p.name, err)
	}
	got, err := p.storeLevels(levels, steps)
	if err != nil {
		return err
	}
	p.rep.RecAda = ReconLoss(got, p.rows, p.k, x, y)
	return nil
}

// storeLevels writes level·s into the latent weights and checks that the layer's
// quantizer reproduces them exactly; it returns the quantized weights.
func (p *plan) storeLevels(levels []float32, steps []float32) ([]float32, error) {
	w, _, _ := weightsOf(p.q)
	wd := w.Data()
	for i, l := range levels {
		wd[i] = l * steps[min(i/p.k, len(steps)-1)]
	}
	got, err := p.q.QuantizedWeights()
	if err != nil {
		return nil, fmt.Errorf("ptq: %w", err)
	}
	for i := range got {
		if got[i] != wd[i] {
			return nil, fmt.Errorf("ptq: %s: weight %d: the quantizer maps the AdaRound value %g to %g", p.name, i, wd[i], got[i])
		}
	}
	return got, nil
}

// correctBias adds E[W·x] − E[W̃·q(x)] per output channel to the layer's bias.
func (p *plan) correctBias() error {
	wt, err := p.q.QuantizedWeights()
	if err != nil {
		return fmt.Errorf("ptq: %w", err)
	}
	if p.bias == nil {
		p.rep.Note = "no bias or BatchNorm shift to correct"
		return nil
	}
	n := float64(p.patchRows)
	for o := 0; o < p.rows; o++ {
		var d float64
		for j := 0; j < p.k; j++ {
			d += float64(p.w[o*p.k+j])*p.mean[j] - float64(wt[o*p.k+j])*p.meanQ[j]
		}
		d /= n
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Errorf("ptq: %s: bias correction of channel %d is %g", p.name, o, d)
		}
		p.bias[o] += float32(d)
		p.rep.BiasShift = max(p.rep.BiasShift, float32(math.Abs(d)))
	}
	return nil
}

// ReconLoss is the mean over the patches x ([R][k]) of ‖x·wᵀ − y‖² (y: [R][rows]).
func ReconLoss(w []float32, rows, k int, x, y []float32) float64 {
	r := len(x) / k
	if r == 0 {
		return 0
	}
	pred := make([]float32, r*rows)
	if err := gemm.Sgemm(false, true, r, rows, k, 1, x, k, w, k, 0, pred, rows); err != nil {
		return math.Inf(1)
	}
	var s float64
	for i, v := range pred {
		d := float64(v - y[i])
		s += d * d
	}
	return s / float64(r)
}
