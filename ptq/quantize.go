package ptq

import (
	"fmt"
	"math"
	"time"

	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// Config says how to quantize. Its zero value is invalid: set at least one of
// WBits and ABits.
type Config struct {
	WBits, ABits int // weight and input (activation) bits of the quantized layers; 0: full precision
	// Policy overrides the first/last-layer policy of the float model ("": keep it).
	Policy      models.Policy
	PerChannel  bool    // one weight step per output channel instead of per layer
	Method      Method  // input calibration
	WMethod     Method  // weight clip: Max, Percentile or MSE
	Percentile  float64 // for Percentile; 0 means 99.99
	BiasCorrect bool
	AdaRound    bool
	Ada         AdaConfig
	// Rows is the number of input patches per layer kept for AdaRound; 0 means 4096.
	Rows int
	Seed uint64
}

// Calib is a calibration set: N images (NHWC, normalised as in training) and their labels.
type Calib struct {
	X      []float32
	Labels []int
}

// LayerReport describes one quantized layer.
type LayerReport struct {
	Name       string
	InClip     float32 // input clip c (0: inputs in full precision)
	InStep     float32
	InMax      float32    // max|x| seen on the calibration set
	WSteps     [2]float32 // smallest and largest weight step (equal per layer)
	RecNearest float64    // mean squared output error per patch, rounding to nearest
	RecAda     float64    // the same after AdaRound (0 without it)
	BiasShift  float32    // largest |bias correction|
	Note       string
}

// Report summarises a quantization run.
type Report struct {
	Spec    models.Spec
	Images  int
	Folded  int
	Layers  []LayerReport
	Calib   time.Duration // activation statistics and steps
	Weights time.Duration // rounding, AdaRound, bias correction
}

// Quantize turns the full-precision checkpoint ck into a quantized one, calibrated
// on c. It never changes a weight by gradient descent: weights are folded, scaled
// and rounded (AdaRound learns only the rounding direction).
func Quantize(ck *recipes.Checkpoint, c Calib, cfg Config) (*recipes.Checkpoint, *Report, error) {
	if err := cfg.check(); err != nil {
		return nil, nil, err
	}
	fp, err := ck.Restore()
	if err != nil {
		return nil, nil, err
	}
	if err := checkFloat(fp.Spec); err != nil {
		return nil, nil, err
	}
	if err := c.check(fp.Spec.Input); err != nil {
		return nil, nil, err
	}
	rep := &Report{Images: len(c.Labels)}
	if rep.Folded, err = FoldBN(fp); err != nil {
		return nil, nil, err
	}
	qm, err := quantModel(fp, cfg)
	if err != nil {
		return nil, nil, err
	}
	rep.Spec = qm.Spec
	bm, err := export.Freeze(fp)
	if err != nil {
		return nil, nil, fmt.Errorf("ptq: float engine: %w", err)
	}
	plans, err := planLayers(fp, qm)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	if err := calibrateInputs(bm, c, plans, cfg); err != nil {
		return nil, nil, err
	}
	rep.Calib = time.Since(t0)
	t0 = time.Now()
	if err := quantizeWeights(bm, c, plans, cfg); err != nil {
		return nil, nil, err
	}
	rep.Weights = time.Since(t0)
	for _, p := range plans {
		rep.Layers = append(rep.Layers, p.rep)
	}
	out := *ck
	out.Model, out.Recipe, out.OptBytes, out.Optimizer, out.TestAcc = qm.Spec, "ptq", nil, "", 0
	out.Snapshot(qm)
	return &out, rep, nil
}

func (cfg *Config) check() error {
	if cfg.WBits == 0 && cfg.ABits == 0 {
		return fmt.Errorf("%w: neither weights nor inputs are quantized", ErrConfig)
	}
	if cfg.WBits != 0 && (cfg.WBits < 2 || cfg.WBits > 8) {
		return fmt.Errorf("%w: %d weight bits, want 2..8", ErrConfig, cfg.WBits)
	}
	if cfg.ABits != 0 && (cfg.ABits < 1 || cfg.ABits > 8) {
		return fmt.Errorf("%w: %d input bits, want 1..8", ErrConfig, cfg.ABits)
	}
	if cfg.Method < Max || cfg.Method > Entropy {
		return fmt.Errorf("%w: method %v", ErrConfig, cfg.Method)
	}
	if cfg.WMethod < Max || cfg.WMethod > MSE {
		return fmt.Errorf("%w: weight method %v (want max, percentile or mse)", ErrConfig, cfg.WMethod)
	}
	if cfg.Percentile == 0 {
		cfg.Percentile = 99.99
	}
	if !(cfg.Percentile > 0 && cfg.Percentile <= 100) {
		return fmt.Errorf("%w: percentile %g, want (0, 100]", ErrConfig, cfg.Percentile)
	}
	if cfg.Rows == 0 {
		cfg.Rows = 4096
	}
	if cfg.Rows < 1 || cfg.Rows > 1<<20 {
		return fmt.Errorf("%w: %d patch rows per layer, want 1..%d", ErrConfig, cfg.Rows, 1<<20)
	}
	if cfg.AdaRound && cfg.WBits == 0 {
		return fmt.Errorf("%w: AdaRound needs quantized weights", ErrConfig)
	}
	return cfg.Ada.fill()
}

func checkFloat(s models.Spec) error {
	if s.Weights != nil || s.Inputs != nil || s.Grads != nil || len(s.Override) > 0 {
		return fmt.Errorf("%w: the checkpoint's model %s is already quantized; post-training quantization starts from a full-precision model", ErrConfig, s)
	}
	return nil
}

// check validates the calibration set against the model's per-sample input shape.
func (c Calib) check(input []int) error {
	n := len(c.Labels)
	if n == 0 {
		return fmt.Errorf("%w: the calibration set is empty", ErrCalib)
	}
	per := 1
	for _, d := range input {
		per *= d
	}
	if len(c.X) != n*per {
		return fmt.Errorf("%w: %d values for %d images, the model takes %v (%d values) per image", ErrCalib, len(c.X), n, input, per)
	}
	one := true
	for _, l := range c.Labels {
		one = one && l == c.Labels[0]
	}
	if one && n > 1 {
		return fmt.Errorf("%w: all %d calibration images are of class %d; a one-class set does not represent the data", ErrCalib, n, c.Labels[0])
	}
	if n == 1 {
		return fmt.Errorf("%w: one calibration image is a one-class set; use more", ErrCalib)
	}
	for i, v := range c.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: value %d of the calibration images is %g", ErrCalib, i, v)
		}
	}
	return nil
}

// quantModel builds the quantized model and copies the folded float tensors into it.
func quantModel(fp *models.Model, cfg Config) (*models.Model, error) {
	s := fp.Spec
	if cfg.Policy != "" {
		s.Policy = cfg.Policy
	}
	if cfg.WBits > 0 {
		s.Weights = ste.LSQ{Bits: cfg.WBits}
		if cfg.PerChannel {
			s.Weights = ste.Scaled{Bits: cfg.WBits, Method: ste.ScaleLearned, PerChannel: true}
		}
	}
	if cfg.ABits > 0 {
		s.Inputs = ste.LSQ{Bits: cfg.ABits}
	}
	qm, err := models.New(s)
	if err != nil {
		return nil, fmt.Errorf("ptq: %w", err)
	}
	src := map[string][]float32{}
	for _, p := range fp.Params() {
		src[p.Name] = p.Data()
	}
	for _, st := range fp.States() {
		src[st.Name] = st.Data
	}
	for _, p := range qm.Params() {
		if p.Kind == layers.QuantParam {
			continue
		}
		d, ok := src[p.Name]
		if !ok || len(d) != len(p.Data()) {
			return nil, fmt.Errorf("ptq: %s: no matching float tensor %s", s.Name, p.Name)
		}
		copy(p.Data(), d)
	}
	for _, st := range qm.States() {
		if d, ok := src[st.Name]; ok && len(d) == len(st.Data) {
			copy(st.Data, d)
			if st.Push != nil {
				st.Push()
			}
		}
	}
	return qm, nil
}
