package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// SensitivityConfig configures a per-layer quantization sensitivity scan (a topic of
// Gholami et al.'s survey, https://arxiv.org/abs/2103.13630, §IV-F): each conv/dense
// layer of a trained model is quantized alone, the rest left as trained, and the
// test accuracy drop is measured.
type SensitivityConfig struct {
	Checkpoint string
	Weights    ste.Quantizer // the quantizer tried on each layer's weights
	Inputs     ste.Quantizer // and on its inputs (nil: leave them)
	// Budget is the average weight bits (weighted by weight count) of the suggested
	// mixed-precision assignment; 0 skips the suggestion.
	Budget float64
	// High is the bit width of the layers that stay above the quantizer's; 0 means 8.
	High      int
	EvalBatch int // 0 means 500
	EvalLimit int // first N test examples; 0: all
	Workers   int
	DataDir   string
	Test      datasets.Dataset // used instead of opening the checkpoint's test split
}

// LayerSensitivity is one layer's result.
type LayerSensitivity struct {
	Layer   string
	Kind    string // "conv" or "dense"
	Weights int    // number of weights
	Acc     float64
	Drop    float64 // baseline − Acc, in points
}

// SensitivityReport is the scan's result and the suggested assignment.
type SensitivityReport struct {
	Checkpoint, Model, Dataset string
	Weights, Inputs            string
	Baseline                   float64 // test top-1 of the checkpoint as is, %
	Layers                     []LayerSensitivity

	Budget     float64
	LowBits    int            // the quantizer's weight bits
	HighBits   int            // the bits of the layers kept above it
	Assignment map[string]int // layer → weight bits
	AvgBits    float64        // weight-count-weighted average of Assignment
	// MixedAcc is the accuracy with every low-bit layer of the assignment quantized at
	// once and the others left as trained (an optimistic stand-in for HighBits).
	MixedAcc float64
	// Feasible is false when even every layer at LowBits exceeds the budget.
	Feasible bool
}

// Sensitivity runs the scan.
func Sensitivity(cfg SensitivityConfig) (*SensitivityReport, error) {
	if cfg.Weights == nil && cfg.Inputs == nil {
		return nil, fmt.Errorf("bench: sensitivity: no quantizer to try (want -weights and/or -inputs)")
	}
	ck, err := recipes.LoadCheckpoint(cfg.Checkpoint)
	if err != nil {
		return nil, err
	}
	test, err := sensitivityTest(cfg, ck)
	if err != nil {
		return nil, err
	}
	base, err := ck.Restore()
	if err != nil {
		return nil, err
	}
	sc := &sensScan{cfg: cfg, ck: ck, test: test, targets: scanTargets(base)}
	rep := &SensitivityReport{Checkpoint: cfg.Checkpoint, Model: ck.Model.String(), Dataset: ck.Dataset,
		Weights: ste.SpecOf(cfg.Weights), Inputs: ste.SpecOf(cfg.Inputs), Budget: cfg.Budget}
	if rep.Baseline, err = sc.eval(base); err != nil {
		return nil, err
	}
	if len(sc.targets) == 0 {
		return nil, fmt.Errorf("bench: %s: model %s has no conv or dense layer", cfg.Checkpoint, ck.Model.Name)
	}
	for _, t := range sc.targets {
		acc, err := sc.build(t.name)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", t.name, err)
		}
		rep.Layers = append(rep.Layers, LayerSensitivity{Layer: t.name, Kind: t.kind, Weights: t.n, Acc: acc, Drop: rep.Baseline - acc})
	}
	if cfg.Budget > 0 && cfg.Weights != nil {
		if err := sc.assign(rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// sensitivityTest is cfg.Test, or the checkpoint's dataset's test split.
func sensitivityTest(cfg SensitivityConfig, ck *recipes.Checkpoint) (datasets.Dataset, error) {
	if cfg.Test != nil {
		return cfg.Test, nil
	}
	sc, err := datasets.ParseScaling(ck.Config.Scaling)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", cfg.Checkpoint, err)
	}
	split := "test"
	if ck.Dataset == "imagenette" || ck.Dataset == "imagefolder" {
		split = "val"
	}
	return datasets.Open(ck.Dataset, split, cfg.DataDir, datasets.Options{Scaling: sc})
}

// sensTarget is a layer to scan, with what it had.
type sensTarget struct {
	name, kind string
	n          int
	was        models.LayerQuant
}

// scanTargets lists the conv and dense layers of m, in order.
func scanTargets(m *models.Model) []sensTarget {
	var targets []sensTarget
	layers.Walk(m.Net, func(l layers.Layer) {
		var t sensTarget
		switch c := l.(type) {
		case *layers.Conv2D:
			t = sensTarget{name: c.Name(), kind: "conv", n: len(c.W.Data())}
		case *layers.Dense:
			t = sensTarget{name: c.Name(), kind: "dense", n: len(c.W.Data())}
		default:
			return
		}
		t.was.Weights, t.was.Inputs = l.(layers.Quantized).Quantizers()
		targets = append(targets, t)
	})
	return targets
}

// sensScan is one scan: the checkpoint, its test set and the layers.
type sensScan struct {
	cfg     SensitivityConfig
	ck      *recipes.Checkpoint
	test    datasets.Dataset
	targets []sensTarget
}

func (sc *sensScan) eval(m *models.Model) (float64, error) {
	acc, _, err := recipes.Evaluate(m, sc.test, sc.cfg.EvalBatch, sc.cfg.Workers, sc.cfg.EvalLimit)
	return 100 * acc, err
}

// override is the checkpoint's overrides with the named layers given the
// quantizers tried.
func (sc *sensScan) override(names ...string) map[string]models.LayerQuant {
	cfg, ck, targets := sc.cfg, sc.ck, sc.targets
	o := map[string]models.LayerQuant{}
	for k, v := range ck.Model.Override {
		o[k] = v
	}
	for i, t := range targets {
		if !slices.Contains(names, t.name) {
			continue
		}
		lq := t.was
		if cfg.Weights != nil {
			lq.Weights = cfg.Weights
		}
		if cfg.Inputs != nil {
			lq.Inputs = cfg.Inputs
			// The first layer sees the image, which is signed: an unsigned quantizer would clip it.
			if q, ok, err := ste.SetParam(cfg.Inputs, "signed", "true"); ok && err == nil && i == 0 {
				lq.Inputs = q
			}
		}
		o[t.name] = lq
	}
	return o
}

// build evaluates the model with the named layers quantized as tried.
func (sc *sensScan) build(names ...string) (float64, error) {
	spec := sc.ck.Model
	spec.Override = sc.override(names...)
	m, err := models.New(spec)
	if err != nil {
		return 0, err
	}
	// Copy everything as trained, then re-derive the quantizers of the changed
	// layers only (LSQ steps from the loaded weights), so the rest stays as trained.
	if _, err := sc.ck.CopyMatching(m); err != nil {
		return 0, err
	}
	var rerr error
	layers.Walk(m.Net, func(l layers.Layer) {
		if _, ok := l.(layers.Quantized); ok && rerr == nil && slices.Contains(names, l.Name()) {
			rerr = layers.ReinitQuantizers(l)
		}
	})
	if rerr != nil {
		return 0, rerr
	}
	return sc.eval(m)
}

// assign suggests the mixed-precision assignment within the budget and
// measures it.
func (sc *sensScan) assign(rep *SensitivityReport) error {
	cfg := sc.cfg
	rep.HighBits = cfg.High
	if rep.HighBits == 0 {
		rep.HighBits = 8
	}
	rep.LowBits = ste.BitsFor(cfg.Weights, ste.Weights)
	rep.Assignment, rep.AvgBits, rep.Feasible = assignBits(rep.Layers, cfg.Budget, rep.LowBits, rep.HighBits)
	var low []string
	for name, b := range rep.Assignment {
		if b == rep.LowBits && b != rep.HighBits {
			low = append(low, name)
		}
	}
	rep.MixedAcc = rep.Baseline
	if len(low) > 0 {
		var err error
		if rep.MixedAcc, err = sc.build(low...); err != nil {
			return err
		}
	}
	return nil
}

// assignBits is the greedy mixed-precision suggestion: every layer starts at high
// bits, and layers drop to low bits in order of accuracy lost per weight bit saved
// (drop / weights, least first: cheap, large layers go first) until the
// weight-count-weighted average is within budget.
func assignBits(ls []LayerSensitivity, budget float64, low, high int) (map[string]int, float64, bool) {
	total := 0
	for _, l := range ls {
		total += l.Weights
	}
	order := make([]LayerSensitivity, len(ls))
	copy(order, ls)
	sort.SliceStable(order, func(i, j int) bool {
		ci := math.Max(order[i].Drop, 0) / float64(order[i].Weights)
		cj := math.Max(order[j].Drop, 0) / float64(order[j].Weights)
		if ci != cj {
			return ci < cj
		}
		return order[i].Weights > order[j].Weights
	})
	out := map[string]int{}
	bitsSum := 0.0
	for _, l := range ls {
		out[l.Layer] = high
		bitsSum += float64(high * l.Weights)
	}
	avg := func() float64 { return bitsSum / float64(total) }
	for _, l := range order {
		if avg() <= budget {
			break
		}
		out[l.Layer] = low
		bitsSum -= float64((high - low) * l.Weights)
	}
	return out, avg(), avg() <= budget+1e-9
}

// WriteTable prints the per-layer table and the suggestion.
func (r *SensitivityReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s (%s, %s): baseline %.2f%%; one layer at a time with weights=%s inputs=%s\n",
		r.Checkpoint, r.Model, r.Dataset, r.Baseline, r.Weights, r.Inputs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkind\tweights\tacc %\tdrop\t")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%+.2f\t\n", l.Layer, l.Kind, l.Weights, l.Acc, l.Drop)
	}
	tw.Flush()
	if r.Assignment == nil {
		return
	}
	parts := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		parts[i] = fmt.Sprintf("%s=%d", l.Layer, r.Assignment[l.Layer])
	}
	verdict := ""
	if !r.Feasible {
		verdict = fmt.Sprintf(" (budget %.2f not reachable: every layer at %d bits)", r.Budget, r.LowBits)
	}
	fmt.Fprintf(w, "suggested weight bits for an average of %.2f: %s → %.2f bits/weight%s\n", r.Budget, strings.Join(parts, " "), r.AvgBits, verdict)
	fmt.Fprintf(w, "accuracy with the %d-bit layers quantized together (the rest as trained): %.2f%% (%+.2f)\n", r.LowBits, r.MixedAcc, r.MixedAcc-r.Baseline)
}

// PNG draws the drops as a bar chart.
func (r *SensitivityReport) PNG() ([]byte, error) {
	labels := make([]string, len(r.Layers))
	drops := make([]float64, len(r.Layers))
	for i, l := range r.Layers {
		labels[i], drops[i] = l.Layer, l.Drop
	}
	return barPlot(fmt.Sprintf("accuracy drop, one layer at a time at w=%s a=%s\nbaseline %.2f%% (%s)", r.Weights, r.Inputs, r.Baseline, r.Dataset),
		"test top-1 drop (points)", labels, drops)
}
