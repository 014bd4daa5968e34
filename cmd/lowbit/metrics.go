package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/recipes"
)

const (
	metricsJSONL = "metrics.jsonl"
	metricsCSV   = "metrics.csv"
	// maxMetricsBytes caps a metrics.jsonl read back on resume or by plot.
	maxMetricsBytes = 256 << 20
)

// metricRow is one line of metrics.jsonl / metrics.csv: a training step
// (Loss, Acc, LR) or an epoch (the Train* and Eval* fields). Accuracies are percent.
type metricRow struct {
	Kind      string  `json:"kind"` // "step" or "epoch"
	Epoch     int     `json:"epoch"`
	Step      uint64  `json:"step"` // global step
	Loss      float64 `json:"loss,omitempty"`
	Acc       float64 `json:"acc,omitempty"`
	LR        float64 `json:"lr,omitempty"`
	TrainLoss float64 `json:"train_loss,omitempty"`
	TrainAcc  float64 `json:"train_acc,omitempty"`
	EvalSplit string  `json:"eval_split,omitempty"` // "val" or "test"
	EvalLoss  float64 `json:"eval_loss,omitempty"`
	EvalAcc   float64 `json:"eval_acc,omitempty"`
}

var csvHeader = []string{"kind", "epoch", "step", "loss", "acc", "lr", "train_loss", "train_acc", "eval_split", "eval_loss", "eval_acc"}

func (m metricRow) csv() []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	if m.Kind == "step" {
		return []string{m.Kind, strconv.Itoa(m.Epoch), strconv.FormatUint(m.Step, 10), f(m.Loss), f(m.Acc), f(m.LR), "", "", "", "", ""}
	}
	return []string{m.Kind, strconv.Itoa(m.Epoch), strconv.FormatUint(m.Step, 10), "", "", "", f(m.TrainLoss), f(m.TrainAcc), m.EvalSplit, f(m.EvalLoss), f(m.EvalAcc)}
}

// recorder keeps a run's metrics and rewrites metrics.jsonl and metrics.csv
// in its directory (atomically) at every epoch's end and at the run's end.
type recorder struct {
	dir   string
	split string
	rows  []metricRow
}

// newRecorder starts a run's metrics; a resumed run keeps the rows of its
// directory's metrics.jsonl up to the checkpoint's step.
func newRecorder(dir, split string, resumeStep uint64, resuming bool) (*recorder, error) {
	r := &recorder{dir: dir, split: split}
	if !resuming {
		return r, nil
	}
	rows, err := readMetrics(filepath.Join(dir, metricsJSONL))
	if os.IsNotExist(err) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.Step <= resumeStep {
			r.rows = append(r.rows, row)
		}
	}
	return r, nil
}

func (r *recorder) step(s recipes.StepStats) {
	r.rows = append(r.rows, metricRow{Kind: "step", Epoch: s.Epoch, Step: s.Global, Loss: float64(s.Loss), Acc: round4(100 * s.Acc), LR: float64(s.LR)})
}

// epoch records e (global step g) and writes the files.
func (r *recorder) epoch(e recipes.EpochStats, g uint64) error {
	r.rows = append(r.rows, metricRow{Kind: "epoch", Epoch: e.Epoch, Step: g, TrainLoss: round4(e.TrainLoss), TrainAcc: round4(100 * e.TrainAcc),
		EvalSplit: r.split, EvalLoss: round4(e.TestLoss), EvalAcc: round4(100 * e.TestAcc)})
	return r.flush()
}

func (r *recorder) flush() error {
	var jb, cb bytes.Buffer
	enc := json.NewEncoder(&jb)
	cw := csv.NewWriter(&cb)
	cw.Write(csvHeader)
	for _, row := range r.rows {
		if err := enc.Encode(row); err != nil {
			return err
		}
		cw.Write(row.csv())
	}
	cw.Flush()
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.dir, metricsJSONL), jb.Bytes()); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.dir, metricsCSV), cb.Bytes())
}

// readMetrics reads a metrics.jsonl file.
func readMetrics(path string) ([]metricRow, error) {
	b, err := readCapped(path, maxMetricsBytes)
	if err != nil {
		return nil, err
	}
	var rows []metricRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row metricRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// subset is a view of some examples of a dataset, in the order of idx.
type subset struct {
	datasets.Dataset
	idx []int
}

func (s subset) Len() int { return len(s.idx) }

func (s subset) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	return s.Dataset.Example(s.idx[i], x, rng)
}

// namedSubset is a subset of a dataset that names its classes.
type namedSubset struct {
	subset
	names []string
}

func (s namedSubset) ClassNames() []string { return s.names }

// newSubset keeps the class names of a dataset that has them.
func newSubset(ds datasets.Dataset, idx []int) datasets.Dataset {
	if cn, ok := ds.(interface{ ClassNames() []string }); ok {
		return namedSubset{subset{ds, idx}, cn.ClassNames()}
	}
	return subset{ds, idx}
}

// splitVal carves a validation set of frac·Len examples out of ds, chosen by a
// permutation seeded with seed; the rest stay for training, in their order.
func splitVal(ds datasets.Dataset, frac float64, seed uint64) (train, val datasets.Dataset, err error) {
	n := ds.Len()
	k := int(frac * float64(n))
	if k < 1 || k >= n {
		return nil, nil, usagef("-val %v leaves %d of %d examples for validation: want at least one each for training and validation", frac, k, n)
	}
	perm := rand.New(rand.NewPCG(seed, 0x76616c)).Perm(n)
	isVal := make([]bool, n)
	for _, i := range perm[:k] {
		isVal[i] = true
	}
	var tr, va []int
	for i := range n {
		if isVal[i] {
			va = append(va, i)
		} else {
			tr = append(tr, i)
		}
	}
	return newSubset(ds, tr), newSubset(ds, va), nil
}
