package bench

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// AccuracyConfig configures the accuracy grid: every recipe × dataset is one cell,
// trained with a fixed seed and evaluated on the test split.
type AccuracyConfig struct {
	Recipes  []string // nil: every registered recipe
	Datasets []string // nil: mnist and fashion-mnist
	// Epochs overrides every cell's epochs; 0 picks DefaultEpochs.
	Epochs    int
	Seed      uint64
	MaxSteps  int // stop each cell after this many steps (smoke runs); 0: no limit
	EvalLimit int // evaluate on the first EvalLimit test examples; 0: all
	// Out is the report directory: accuracy.md, accuracy.csv, accuracy.png and the
	// per-cell results accuracy-runs.json that makes the grid resumable.
	Out string
	// Checkpoints is where each cell's checkpoint goes ("" for none). The fp cell's
	// checkpoint of a dataset is what InitFP starts from.
	Checkpoints string
	// InitFP starts recipes marked InitFromFP (LSQ) from the fp checkpoint of the
	// same dataset when there is one, as the LSQ paper does; otherwise from scratch.
	InitFP bool
	// Force reruns cells already finished with the same settings.
	Force   bool
	DataDir string
	Workers int
	// Command is the command line recorded in the report header.
	Command string

	OnStart func(c Cell)                       // before a cell trains
	OnDone  func(c Cell, skipped bool)         // after a cell trained or was skipped
	OnEpoch func(c Cell, e recipes.EpochStats) // after every epoch of a cell
}

// Cell is one recipe × dataset result.
type Cell struct {
	Recipe    string    `json:"recipe"`
	Dataset   string    `json:"dataset"`
	Model     string    `json:"model"`
	Family    string    `json:"family"`
	WBits     int       `json:"w_bits"`
	ABits     int       `json:"a_bits"`
	Acc       float64   `json:"acc"`              // test top-1, %
	Expect    float64   `json:"expect,omitempty"` // the recipe's expectation on this dataset, %
	Epochs    int       `json:"epochs"`
	Steps     uint64    `json:"steps"`
	Seconds   float64   `json:"seconds"`
	Seed      uint64    `json:"seed"`
	MaxSteps  int       `json:"max_steps,omitempty"`
	EvalLimit int       `json:"eval_limit,omitempty"`
	InitFP    bool      `json:"init_fp,omitempty"` // the run asked for InitFP (recipes marked InitFromFP only)
	InitFrom  string    `json:"init_from,omitempty"`
	Error     string    `json:"error,omitempty"` // a run that diverged (NaN/Inf)
	Finished  time.Time `json:"finished"`
}

func (c Cell) key() string { return c.Recipe + "/" + c.Dataset }

// sameSettings reports whether a stored cell answers the request want.
func (c Cell) sameSettings(want Cell) bool {
	return c.Epochs == want.Epochs && c.Seed == want.Seed && c.MaxSteps == want.MaxSteps &&
		c.EvalLimit == want.EvalLimit && c.InitFP == want.InitFP
}

// DefaultDatasets are the grid's datasets when none are given.
var DefaultDatasets = []string{"mnist", "fashion-mnist"}

// DefaultEpochs is a cell's epoch count: the recipe's own (3 when it sets none) on
// MNIST, and at least 5 on Fashion-MNIST.
func DefaultEpochs(r recipes.Recipe, dataset string) int {
	e := r.Epochs
	if e == 0 {
		e = 3
	}
	if dataset == "fashion-mnist" {
		e = max(e, 5)
	}
	return e
}

// surveyOrder is the row order of the survey's comparison: FP, W1A1, W1A32, W2A32,
// DoReFa, LSQ, PACT, k-means. Recipes not listed follow in name order.
var surveyOrder = []string{
	"fp",
	"bnn", "bnn-bop", "xnor", "larq-bnn",
	"bwn",
	"twn", "ttq",
	"dorefa-w1a2", "dorefa-w1a2g6", "dorefa-w2a2", "dorefa-w1a4",
	"lsq-w2a2", "lsq-w3a3", "lsq-w4a4", "lsq-w8a8",
	"pact-w2a2", "pact-w4a4",
	"kmeans-w2", "kmeans-w4",
}

func surveyRank(name string) int {
	if i := slices.Index(surveyOrder, name); i >= 0 {
		return i
	}
	return len(surveyOrder)
}

func sortRecipes(names []string) {
	sort.SliceStable(names, func(i, j int) bool {
		ri, rj := surveyRank(names[i]), surveyRank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
}

// family is the plot line a recipe belongs to.
func family(name string) string {
	switch name {
	case "xnor", "bwn":
		return "xnor-net"
	case "bnn-bop":
		return "bnn (bop)"
	case "dorefa-w1a2g6":
		return "dorefa (g6)"
	case "larq-bnn":
		return "larq cnn"
	}
	if f, _, ok := strings.Cut(name, "-"); ok {
		return f
	}
	return name
}

// runsFile is the per-cell results file inside the report directory.
const runsFile = "accuracy-runs.json"

type runs struct {
	Cells []Cell `json:"cells"`
}

// LoadCells reads the stored cells of a report directory (none when absent).
func LoadCells(dir string) ([]Cell, error) {
	b, err := os.ReadFile(filepath.Join(dir, runsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var r runs
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, runsFile), err)
	}
	return r.Cells, nil
}

func saveCells(dir string, cells map[string]Cell) error {
	r := runs{Cells: sortedCells(cells)}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return writeFile(filepath.Join(dir, runsFile), append(b, '\n'))
}

func sortedCells(m map[string]Cell) []Cell {
	out := make([]Cell, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if di, dj := datasetRank(out[i].Dataset), datasetRank(out[j].Dataset); di != dj {
			return di < dj
		}
		if out[i].Dataset != out[j].Dataset {
			return out[i].Dataset < out[j].Dataset
		}
		ri, rj := surveyRank(out[i].Recipe), surveyRank(out[j].Recipe)
		if ri != rj {
			return ri < rj
		}
		return out[i].Recipe < out[j].Recipe
	})
	return out
}

func datasetRank(d string) int {
	if i := slices.Index(DefaultDatasets, d); i >= 0 {
		return i
	}
	return len(DefaultDatasets)
}

// AccuracyReport is what RunAccuracy leaves in the report directory.
type AccuracyReport struct {
	Cells    []Cell          // every stored cell, in table order
	Ran      int             // cells trained by this call
	Skipped  int             // cells already finished with the same settings
	Ordering []OrderingCheck // one per dataset in the table
}

// RunAccuracy trains the missing cells of the grid, storing each result as soon as
// it is known, and then writes the report (accuracy.md, .csv, .png) over every
// stored cell. Cancelling ctx stops after the current step; finished cells stay.
func RunAccuracy(ctx context.Context, cfg AccuracyConfig) (*AccuracyReport, error) {
	if cfg.Out == "" {
		return nil, fmt.Errorf("bench: accuracy: no output directory")
	}
	names := cfg.Recipes
	if len(names) == 0 {
		names = recipes.Recipes()
	}
	names = slices.Clone(names)
	sortRecipes(names) // fp first: InitFP needs its checkpoint
	sets := cfg.Datasets
	if len(sets) == 0 {
		sets = DefaultDatasets
	}
	rs := make([]recipes.Recipe, len(names))
	for i, n := range names {
		r, err := recipes.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		rs[i] = r
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	stored, err := LoadCells(cfg.Out)
	if err != nil {
		return nil, err
	}
	cells := map[string]Cell{}
	for _, c := range stored {
		cells[c.key()] = c
	}
	rep := &AccuracyReport{}
	data := map[string][2]datasets.Dataset{}
	for _, ds := range sets {
		for _, r := range rs {
			want := plannedCell(r, ds, cfg)
			if old, ok := cells[want.key()]; ok && !cfg.Force && old.sameSettings(want) {
				rep.Skipped++
				if cfg.OnDone != nil {
					cfg.OnDone(old, true)
				}
				continue
			}
			c, err := runCell(ctx, r, want, cfg, data)
			if err != nil {
				return rep, err
			}
			cells[c.key()] = c
			rep.Ran++
			if err := saveCells(cfg.Out, cells); err != nil {
				return rep, err
			}
			if cfg.OnDone != nil {
				cfg.OnDone(c, false)
			}
		}
	}
	rep.Cells = sortedCells(cells)
	rep.Ordering, err = WriteAccuracyReport(cfg.Out, rep.Cells, cfg.Command, ThisMachine())
	return rep, err
}

// plannedCell is the request for one cell, before it runs.
func plannedCell(r recipes.Recipe, ds string, cfg AccuracyConfig) Cell {
	cc := r.Config("", ds)
	c := Cell{
		Recipe: r.Name, Dataset: ds, Model: cc.Model.Name, Family: family(r.Name),
		WBits: ste.BitsFor(r.Weights, ste.Weights), ABits: ste.BitsFor(r.Inputs, ste.Inputs),
		Expect: r.Expect[ds], Epochs: cfg.Epochs, Seed: cfg.Seed, MaxSteps: cfg.MaxSteps, EvalLimit: cfg.EvalLimit,
		InitFP: cfg.InitFP && r.InitFromFP,
	}
	if c.Epochs == 0 {
		c.Epochs = DefaultEpochs(r, ds)
	}
	return c
}

func (cfg AccuracyConfig) checkpoint(recipe, ds string) string {
	if cfg.Checkpoints == "" {
		return ""
	}
	return filepath.Join(cfg.Checkpoints, recipe+"-"+ds+".ckpt")
}

// runCell trains one cell. A run that diverges is a result (recorded with its error);
// any other failure is returned.
func runCell(ctx context.Context, r recipes.Recipe, c Cell, cfg AccuracyConfig, data map[string][2]datasets.Dataset) (Cell, error) {
	rc := r.Config("", c.Dataset)
	rc.Epochs, rc.Seed, rc.MaxSteps, rc.EvalLimit = c.Epochs, c.Seed, c.MaxSteps, c.EvalLimit
	rc.Model.Seed = c.Seed
	rc.DataDir, rc.Workers = cfg.DataDir, cfg.Workers
	rc.Out = cfg.checkpoint(r.Name, c.Dataset)
	if c.InitFP {
		if p := cfg.checkpoint("fp", c.Dataset); p != "" {
			if _, err := os.Stat(p); err == nil {
				rc.InitFrom = p
				c.InitFrom = p
			}
		}
	}
	key := c.Dataset + "/" + rc.Scaling.String()
	d, ok := data[key]
	if !ok {
		tr, te, err := recipes.OpenData(&recipes.Config{Dataset: c.Dataset, DataDir: cfg.DataDir, Scaling: rc.Scaling})
		if err != nil {
			return c, fmt.Errorf("bench: %s: %w", c.Dataset, err)
		}
		d = [2]datasets.Dataset{tr, te}
		data[key] = d
	}
	rc.Train, rc.Test = d[0], d[1]
	if cfg.OnEpoch != nil {
		rc.OnEpoch = func(e recipes.EpochStats) { cfg.OnEpoch(c, e) }
	}
	if cfg.OnStart != nil {
		cfg.OnStart(c)
	}
	t0 := time.Now()
	res, err := recipes.Train(ctx, rc)
	c.Seconds = time.Since(t0).Seconds()
	c.Finished = time.Now().UTC()
	switch {
	case errors.Is(err, recipes.ErrNonFinite):
		c.Error = err.Error()
		c.Acc = math.NaN()
		return c, nil
	case err != nil:
		return c, fmt.Errorf("bench: %s on %s: %w", r.Name, c.Dataset, err)
	}
	c.Acc, c.Steps = 100*res.TestAcc, res.Steps
	return c, nil
}

// MarshalJSON writes a NaN accuracy (a diverged run) as null.
func (c Cell) MarshalJSON() ([]byte, error) {
	type plain Cell
	v := struct {
		plain
		Acc *float64 `json:"acc"`
	}{plain: plain(c)}
	if !math.IsNaN(c.Acc) {
		v.Acc = &c.Acc
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a null accuracy back as NaN.
func (c *Cell) UnmarshalJSON(b []byte) error {
	type plain Cell
	var v struct {
		plain
		Acc *float64 `json:"acc"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = Cell(v.plain)
	c.Acc = math.NaN()
	if v.Acc != nil {
		c.Acc = *v.Acc
	}
	return nil
}

// OrderingCheck is the survey's expected ordering on one dataset:
// W1A1 ≤ W1A2 ≤ W2A2 ≤ W4A4 ≤ FP + 0.3, each class taken at its best recipe.
type OrderingCheck struct {
	Dataset string
	Classes []OrderingClass
	Pass    bool
	Missing []string // classes without a finished cell
}

// OrderingClass is one bit-width class of the ordering and its best recipe.
type OrderingClass struct {
	Label  string
	Recipe string
	Acc    float64
}

// orderingClasses lists the recipes that stand for each class, best one counting.
var orderingClasses = []struct {
	label   string
	recipes []string
}{
	{"W1A1", []string{"bnn", "bnn-bop", "xnor", "larq-bnn"}},
	{"W1A2", []string{"dorefa-w1a2", "dorefa-w1a2g6"}},
	{"W2A2", []string{"lsq-w2a2", "dorefa-w2a2", "pact-w2a2"}},
	{"W4A4", []string{"lsq-w4a4", "pact-w4a4"}},
	{"FP", []string{"fp"}},
}

// FPSlack is how far W4A4 may exceed FP in the ordering check (points).
const FPSlack = 0.3

// CheckOrdering evaluates the ordering on one dataset's cells.
func CheckOrdering(dataset string, cells []Cell) OrderingCheck {
	oc := OrderingCheck{Dataset: dataset, Pass: true}
	by := map[string]Cell{}
	for _, c := range cells {
		if c.Dataset == dataset && c.Error == "" && !math.IsNaN(c.Acc) {
			by[c.Recipe] = c
		}
	}
	for _, cl := range orderingClasses {
		best := OrderingClass{Label: cl.label, Acc: math.NaN()}
		for _, r := range cl.recipes {
			if c, ok := by[r]; ok && (math.IsNaN(best.Acc) || c.Acc > best.Acc) {
				best.Recipe, best.Acc = r, c.Acc
			}
		}
		if best.Recipe == "" {
			oc.Missing = append(oc.Missing, cl.label)
			oc.Pass = false
			continue
		}
		oc.Classes = append(oc.Classes, best)
	}
	for i := 1; i < len(oc.Classes); i++ {
		slack := 0.0
		if oc.Classes[i].Label == "FP" {
			slack = FPSlack
		}
		if oc.Classes[i-1].Acc > oc.Classes[i].Acc+slack {
			oc.Pass = false
		}
	}
	return oc
}

// String is a one-line verdict, e.g.
// "mnist: PASS W1A1 98.40 (xnor) ≤ W1A2 98.90 (dorefa-w1a2) ≤ … ≤ FP+0.3 99.50 (fp)".
func (oc OrderingCheck) String() string {
	verdict := "PASS"
	if !oc.Pass {
		verdict = "FAIL"
	}
	parts := make([]string, len(oc.Classes))
	for i, c := range oc.Classes {
		parts[i] = fmt.Sprintf("%s %.2f (%s)", c.Label, c.Acc, c.Recipe)
		if c.Label == "FP" {
			parts[i] = fmt.Sprintf("FP %.2f + %.1f (%s)", c.Acc, FPSlack, c.Recipe)
		}
	}
	s := fmt.Sprintf("%s: %s %s", oc.Dataset, verdict, strings.Join(parts, " ≤ "))
	if len(oc.Missing) > 0 {
		s += "; missing " + strings.Join(oc.Missing, ", ")
	}
	return s
}

// WriteAccuracyReport writes accuracy.md, accuracy.csv and accuracy.png for cells
// into dir, and returns the ordering check of each dataset.
func WriteAccuracyReport(dir string, cells []Cell, command string, m Machine) ([]OrderingCheck, error) {
	sets := tableDatasets(cells)
	var checks []OrderingCheck
	for _, ds := range sets {
		checks = append(checks, CheckOrdering(ds, cells))
	}
	var md strings.Builder
	writeAccuracyMarkdown(&md, cells, sets, checks, command, m)
	if err := appendPTQSection(&md, dir); err != nil {
		return checks, err
	}
	if err := writeFile(filepath.Join(dir, "accuracy.md"), []byte(md.String())); err != nil {
		return checks, err
	}
	var cb strings.Builder
	if err := writeAccuracyCSV(&cb, cells); err != nil {
		return checks, err
	}
	if err := writeFile(filepath.Join(dir, "accuracy.csv"), []byte(cb.String())); err != nil {
		return checks, err
	}
	png, err := accuracyPlot(cells, sets)
	if err != nil {
		return checks, err
	}
	return checks, writeFile(filepath.Join(dir, "accuracy.png"), png)
}

func tableDatasets(cells []Cell) []string {
	var sets []string
	for _, c := range cells {
		if !slices.Contains(sets, c.Dataset) {
			sets = append(sets, c.Dataset)
		}
	}
	sort.SliceStable(sets, func(i, j int) bool { return datasetRank(sets[i]) < datasetRank(sets[j]) })
	return sets
}

func tableRecipes(cells []Cell) []string {
	var names []string
	for _, c := range cells {
		if !slices.Contains(names, c.Recipe) {
			names = append(names, c.Recipe)
		}
	}
	sortRecipes(names)
	return names
}

var datasetTitle = map[string]string{"mnist": "MNIST", "fashion-mnist": "Fashion", "cifar10": "CIFAR-10"}

func title(ds string) string {
	if t, ok := datasetTitle[ds]; ok {
		return t
	}
	return ds
}

func bitsLabel(b int) string {
	if b >= 32 {
		return "32"
	}
	return strconv.Itoa(b)
}

func fmtDuration(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.1fs", s)
	}
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d < time.Minute {
		return d.String()
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func writeAccuracyMarkdown(w io.Writer, cells []Cell, sets []string, checks []OrderingCheck, command string, m Machine) {
	WriteHeader(w, "Accuracy of the paper recipes", command, m)
	by := map[string]Cell{}
	var smoke bool
	for _, c := range cells {
		by[c.key()] = c
		smoke = smoke || c.MaxSteps > 0 || c.EvalLimit > 0
	}
	fmt.Fprintf(w, "Test top-1 accuracy (%%) of each recipe with its own first/last-layer policy and schedule (LeNet-5 unless the model is named), one fixed seed per cell. ")
	fmt.Fprintf(w, "Bits are those of the body layers (32 = full precision). \"expected\" is the recipe's target (%s); ↓ marks a result below it. LSQ cells marked ⁱ start from the fp checkpoint of the same dataset (the paper's initialisation).\n\n", strings.Join(titles(sets), " / "))
	fmt.Fprintf(w, "| recipe | W bits | A bits |")
	for _, ds := range sets {
		fmt.Fprintf(w, " %s acc |", title(ds))
		if ds == sets[0] {
			fmt.Fprintf(w, " expected |")
		}
	}
	fmt.Fprintf(w, " epochs | time |\n|---|---:|---:|")
	for _, ds := range sets {
		fmt.Fprintf(w, "---:|")
		if ds == sets[0] {
			fmt.Fprintf(w, "---:|")
		}
	}
	fmt.Fprintf(w, "---:|---:|\n")
	for _, name := range tableRecipes(cells) {
		var any Cell
		for _, ds := range sets {
			if c, ok := by[name+"/"+ds]; ok {
				any = c
				break
			}
		}
		label := name
		if any.Model != "" && any.Model != "lenet5" {
			label += " (" + any.Model + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s |", label, bitsLabel(any.WBits), bitsLabel(any.ABits))
		var epochs, times []string
		for _, ds := range sets {
			c, ok := by[name+"/"+ds]
			if !ok {
				fmt.Fprintf(w, " — |")
				epochs, times = append(epochs, "—"), append(times, "—")
			} else {
				fmt.Fprintf(w, " %s |", accCell(c))
				e := strconv.Itoa(c.Epochs)
				if c.MaxSteps > 0 {
					e = fmt.Sprintf("%d steps*", c.Steps)
				}
				epochs, times = append(epochs, e), append(times, fmtDuration(c.Seconds))
			}
			if ds == sets[0] {
				fmt.Fprintf(w, " %s |", strings.Join(expectations(sets, by, name), " / "))
			}
		}
		fmt.Fprintf(w, " %s | %s |\n", strings.Join(epochs, " / "), strings.Join(times, " / "))
	}
	fmt.Fprintln(w)
	if smoke {
		fmt.Fprintf(w, "\\* smoke run: stopped early (-max-steps) or evaluated on part of the test set (-eval-limit); not a result.\n\n")
	}
	fmt.Fprintf(w, "Ordering check (W1A1 ≤ W1A2 ≤ W2A2 ≤ W4A4 ≤ FP + %.1f, each class at its best recipe):\n\n", FPSlack)
	for _, oc := range checks {
		fmt.Fprintf(w, "- %s\n", oc.String())
	}
	fmt.Fprintf(w, "\n![accuracy against bit widths](accuracy.png)\n")
}

// expectations lists the expectations of recipe name on each dataset, dropping
// trailing datasets without one ("99.20", or "99.20 / 90.50").
func expectations(sets []string, by map[string]Cell, name string) []string {
	var out []string
	for _, ds := range sets {
		if c, ok := by[name+"/"+ds]; ok && c.Expect > 0 {
			out = append(out, fmt.Sprintf("%.2f", c.Expect))
		} else {
			out = append(out, "—")
		}
	}
	for len(out) > 1 && out[len(out)-1] == "—" {
		out = out[:len(out)-1]
	}
	return out
}

func titles(sets []string) []string {
	out := make([]string, len(sets))
	for i, s := range sets {
		out[i] = title(s)
	}
	return out
}

func accCell(c Cell) string {
	if c.Error != "" || math.IsNaN(c.Acc) {
		return "diverged"
	}
	s := fmt.Sprintf("%.2f", c.Acc)
	if c.InitFrom != "" {
		s += "ⁱ"
	}
	if c.Expect > 0 && c.Acc < c.Expect {
		s += " ↓"
	}
	if c.MaxSteps > 0 || c.EvalLimit > 0 {
		s += "*"
	}
	return s
}

func writeAccuracyCSV(w io.Writer, cells []Cell) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"recipe", "dataset", "model", "family", "w_bits", "a_bits", "acc", "expect", "epochs", "steps", "seconds", "seed", "max_steps", "eval_limit", "init_from", "error"})
	for _, c := range cells {
		acc := ""
		if !math.IsNaN(c.Acc) {
			acc = strconv.FormatFloat(c.Acc, 'f', 2, 64)
		}
		exp := ""
		if c.Expect > 0 {
			exp = strconv.FormatFloat(c.Expect, 'f', 2, 64)
		}
		cw.Write([]string{c.Recipe, c.Dataset, c.Model, c.Family, strconv.Itoa(c.WBits), strconv.Itoa(c.ABits), acc, exp,
			strconv.Itoa(c.Epochs), strconv.FormatUint(c.Steps, 10), strconv.FormatFloat(c.Seconds, 'f', 1, 64),
			strconv.FormatUint(c.Seed, 10), strconv.Itoa(c.MaxSteps), strconv.Itoa(c.EvalLimit), c.InitFrom, c.Error})
	}
	cw.Flush()
	return cw.Error()
}

// writeFile writes a report file atomically, readable by everyone (it is committed).
func writeFile(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}
