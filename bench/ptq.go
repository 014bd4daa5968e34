package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ptq"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// PTQ row kinds, in table order.
const (
	KindFP       = "fp"
	KindPTQMax   = "ptq-max"
	KindPTQBest  = "ptq-best"
	KindAdaRound = "ptq-adaround"
	KindQAT      = "qat-lsq"
	KindTorch    = "torch-ptq"
)

var ptqKinds = []string{KindFP, KindPTQMax, KindPTQBest, KindAdaRound, KindQAT, KindTorch}

var ptqKindTitle = map[string]string{
	KindFP: "FP (the float checkpoint)", KindPTQMax: "PTQ (max)", KindPTQBest: "PTQ (best calibration)",
	KindAdaRound: "PTQ + AdaRound", KindQAT: "QAT (LSQ, from FP)", KindTorch: "PyTorch PTQ (torch.ao, onednn)",
}

// WA is a weight/input bit-width pair.
type WA struct{ W, A int }

// DefaultPTQBits are the bit widths of the PTQ grid.
var DefaultPTQBits = []WA{{8, 8}, {4, 8}, {4, 4}, {2, 4}}

// PTQTarget is one float checkpoint to quantize.
type PTQTarget struct {
	Checkpoint string
	QATEpochs  int // epochs of the QAT rows (0: no QAT rows)
}

// PTQConfig configures the PTQ-versus-QAT grid.
type PTQConfig struct {
	Targets  []PTQTarget
	Bits     []WA
	Calib    int // calibration images; 0 means 1000
	AdaIters int // AdaRound steps per layer; 0 means 1000
	Seed     uint64
	DataDir  string
	Workers  int
	Out      string // report directory: ptq.md, ptq.csv, ptq.png, ptq-runs.json
	Force    bool
	// Torch, when set, is the python interpreter that runs bench/torch_ptq.py on
	// W8A8 for each target (weights and images travel in a safetensors file under Scratch).
	Torch   string
	Scratch string
	Command string
	OnDone  func(PTQCell, bool)
	Log     func(string)
}

// PTQCell is one row × bit-width result.
type PTQCell struct {
	Dataset  string    `json:"dataset"`
	Model    string    `json:"model"`
	Kind     string    `json:"kind"`
	WBits    int       `json:"w_bits"`
	ABits    int       `json:"a_bits"`
	Acc      float64   `json:"acc"`
	Seconds  float64   `json:"seconds"`
	Detail   string    `json:"detail,omitempty"`
	Calib    int       `json:"calib,omitempty"`
	Finished time.Time `json:"finished"`
}

func (c PTQCell) key() string {
	return fmt.Sprintf("%s/%s/%s/w%da%d", c.Dataset, c.Model, c.Kind, c.WBits, c.ABits)
}

const ptqRunsFile = "ptq-runs.json"

// LoadPTQCells reads the finished cells in dir (none when the file is absent).
func LoadPTQCells(dir string) ([]PTQCell, error) {
	b, err := os.ReadFile(filepath.Join(dir, ptqRunsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var cells []PTQCell
	if err := json.Unmarshal(b, &cells); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, ptqRunsFile), err)
	}
	return cells, nil
}

type ptqGrid struct {
	cfg   PTQConfig
	cells map[string]PTQCell
	order []string
}

func (g *ptqGrid) has(c PTQCell) bool {
	_, ok := g.cells[c.key()]
	return ok && !g.cfg.Force
}

func (g *ptqGrid) add(c PTQCell) error {
	c.Finished = time.Now().UTC()
	if _, ok := g.cells[c.key()]; !ok {
		g.order = append(g.order, c.key())
	}
	g.cells[c.key()] = c
	if g.cfg.OnDone != nil {
		g.cfg.OnDone(c, false)
	}
	return g.save()
}

func (g *ptqGrid) save() error {
	out := make([]PTQCell, 0, len(g.order))
	for _, k := range g.order {
		out = append(out, g.cells[k])
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(g.cfg.Out, ptqRunsFile), b)
}

func (g *ptqGrid) list() []PTQCell {
	out := make([]PTQCell, 0, len(g.order))
	for _, k := range g.order {
		out = append(out, g.cells[k])
	}
	return out
}

// RunPTQ quantizes every target at every bit width with each PTQ method, trains the
// QAT rows, runs the PyTorch peer, and writes the report. Finished cells are kept.
func RunPTQ(ctx context.Context, cfg PTQConfig) ([]PTQCell, error) {
	if cfg.Calib == 0 {
		cfg.Calib = 1000
	}
	if len(cfg.Bits) == 0 {
		cfg.Bits = DefaultPTQBits
	}
	old, err := LoadPTQCells(cfg.Out)
	if err != nil {
		return nil, err
	}
	g := &ptqGrid{cfg: cfg, cells: map[string]PTQCell{}}
	for _, c := range old {
		g.order = append(g.order, c.key())
		g.cells[c.key()] = c
	}
	for _, t := range cfg.Targets {
		if err := g.target(ctx, t); err != nil {
			return g.list(), err
		}
	}
	return g.list(), WritePTQReport(cfg.Out, g.list(), cfg.Command, ThisMachine())
}

// ptqData is one target's checkpoint, datasets and calibration set.
type ptqData struct {
	ck          *recipes.Checkpoint
	train, test datasets.Dataset
	calib       ptq.Calib
	base        PTQCell
	path        string
}

func (g *ptqGrid) target(ctx context.Context, t PTQTarget) error {
	ck, err := recipes.LoadCheckpoint(t.Checkpoint)
	if err != nil {
		return err
	}
	scaling, _ := datasets.ParseScaling(ck.Config.Scaling)
	d := &ptqData{ck: ck, path: t.Checkpoint, base: PTQCell{Dataset: ck.Dataset, Model: ck.Model.Name, Calib: g.cfg.Calib}}
	rc := recipes.Config{Dataset: ck.Dataset, DataDir: g.cfg.DataDir, Scaling: scaling}
	if d.train, d.test, err = recipes.OpenData(&rc); err != nil {
		return err
	}
	if d.calib, err = ptq.LoadCalib(d.train, g.cfg.Calib, g.cfg.Seed); err != nil {
		return err
	}
	fp := d.base
	fp.Kind, fp.WBits, fp.ABits = KindFP, 32, 32
	if !g.has(fp) {
		m, err := ck.Restore()
		if err != nil {
			return err
		}
		if fp.Acc, err = g.evaluate(m, d.test); err != nil {
			return err
		}
		fp.Detail = fmt.Sprintf("epoch %d", ck.Epoch)
		if err := g.add(fp); err != nil {
			return err
		}
	}
	for _, b := range g.cfg.Bits {
		if err := g.bits(ctx, d, b, t.QATEpochs); err != nil {
			return err
		}
	}
	if g.cfg.Torch != "" {
		return g.torch(d)
	}
	return nil
}

func (g *ptqGrid) evaluate(m *models.Model, test datasets.Dataset) (float64, error) {
	acc, _, err := recipes.Evaluate(m, test, 500, g.cfg.Workers, 0)
	return 100 * acc, err
}

// bits runs the PTQ rows and the QAT row of one bit width.
func (g *ptqGrid) bits(ctx context.Context, d *ptqData, b WA, qatEpochs int) error {
	cell := d.base
	cell.WBits, cell.ABits = b.W, b.A
	base := ptq.Config{WBits: b.W, ABits: b.A, Seed: g.cfg.Seed, Ada: ptq.AdaConfig{Iters: g.cfg.AdaIters}}
	mx := cell
	mx.Kind = KindPTQMax
	if !g.has(mx) {
		c := base
		c.Method, c.WMethod = ptq.Max, ptq.Max
		if err := g.ptqCell(d, mx, c, "per-layer max steps, round to nearest"); err != nil {
			return err
		}
	}
	best := cell
	best.Kind = KindPTQBest
	ada := cell
	ada.Kind = KindAdaRound
	if !g.has(best) || !g.has(ada) {
		m, note, err := g.bestMethod(d, base)
		if err != nil {
			return err
		}
		c := base
		c.Method, c.WMethod, c.PerChannel, c.BiasCorrect = m, ptq.MSE, true, true
		if err := g.ptqCell(d, best, c, note); err != nil {
			return err
		}
		c.AdaRound = true
		if err := g.ptqCell(d, ada, c, fmt.Sprintf("%v inputs, per-channel MSE weights, AdaRound %d steps/layer, bias correction", m, c.Ada.Iters)); err != nil {
			return err
		}
	}
	qat := cell
	qat.Kind = KindQAT
	if qatEpochs > 0 && !g.has(qat) {
		return g.qatCell(ctx, d, qat, qatEpochs)
	}
	return nil
}

// ptqCell quantizes with c, evaluates on the test split and records the cell;
// its time is the quantization's (calibration and weights), not the evaluation's.
func (g *ptqGrid) ptqCell(d *ptqData, cell PTQCell, c ptq.Config, detail string) error {
	q, rep, err := ptq.Quantize(d.ck, d.calib, c)
	if err != nil {
		return fmt.Errorf("bench: %s %s W%dA%d: %w", cell.Dataset, cell.Kind, cell.WBits, cell.ABits, err)
	}
	m, err := q.Restore()
	if err != nil {
		return err
	}
	if cell.Acc, err = g.evaluate(m, d.test); err != nil {
		return err
	}
	cell.Seconds = (rep.Calib + rep.Weights).Seconds()
	cell.Detail = detail
	return g.add(cell)
}

// bestMethod picks the input calibration (per-channel MSE weights, bias correction)
// with the highest accuracy on the calibration images themselves (the packed engine;
// the test split is not looked at).
func (g *ptqGrid) bestMethod(d *ptqData, base ptq.Config) (ptq.Method, string, error) {
	best, bestAcc := ptq.Max, -1.0
	note := ""
	for _, m := range []ptq.Method{ptq.Max, ptq.Percentile, ptq.MSE, ptq.Entropy} {
		c := base
		c.Method, c.WMethod, c.PerChannel, c.BiasCorrect = m, ptq.MSE, true, true
		q, _, err := ptq.Quantize(d.ck, d.calib, c)
		if err != nil {
			return 0, "", err
		}
		acc, err := calibAccuracy(q, d.calib)
		if err != nil {
			return 0, "", err
		}
		note += fmt.Sprintf("%v %.1f, ", m, acc)
		if acc > bestAcc {
			best, bestAcc = m, acc
		}
	}
	return best, fmt.Sprintf("%v inputs, per-channel MSE weights, bias correction (chosen on calibration-set accuracy: %s)", best, note[:len(note)-2]), nil
}

func calibAccuracy(q *recipes.Checkpoint, c ptq.Calib) (float64, error) {
	m, err := q.Restore()
	if err != nil {
		return 0, err
	}
	bm, err := export.Freeze(m)
	if err != nil {
		return 0, err
	}
	y, err := bm.Predict(c.X, len(c.Labels))
	if err != nil {
		return 0, err
	}
	k := bm.Classes()
	right := 0
	for i, l := range c.Labels {
		row := y[i*k : (i+1)*k]
		b := 0
		for j, v := range row {
			if v > row[b] {
				b = j
			}
		}
		if b == l {
			right++
		}
	}
	return 100 * float64(right) / float64(len(c.Labels)), nil
}

// qatCell fine-tunes LSQ at the cell's bits from the float checkpoint (the LSQ paper's
// initialisation) and records its test accuracy and training time.
func (g *ptqGrid) qatCell(ctx context.Context, d *ptqData, cell PTQCell, epochs int) error {
	spec := d.ck.Model
	spec.Weights, spec.Inputs = ste.LSQ{Bits: cell.WBits}, ste.LSQ{Bits: cell.ABits}
	scaling, _ := datasets.ParseScaling(d.ck.Config.Scaling)
	rc := recipes.Config{Model: spec, Recipe: "lsq", Dataset: d.ck.Dataset, Scaling: scaling, Epochs: epochs,
		Batch: d.ck.Config.Batch, Seed: g.cfg.Seed, InitFrom: d.path, Train: d.train, Test: d.test, Workers: g.cfg.Workers}
	t0 := time.Now()
	res, err := recipes.Train(ctx, rc)
	if err != nil {
		return fmt.Errorf("bench: QAT %s W%dA%d: %w", cell.Dataset, cell.WBits, cell.ABits, err)
	}
	cell.Seconds = time.Since(t0).Seconds()
	cell.Acc = 100 * res.TestAcc
	cell.Detail = fmt.Sprintf("%d epochs from the float checkpoint, Adam %g cosine", epochs, 1e-3)
	return g.add(cell)
}
