package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// Packed is a model frozen for the packed engine: bitpack.Model satisfies it.
type Packed interface {
	// Predict returns the logits, [n][classes], of the n NHWC examples in x.
	Predict(x []float32, n int) ([]float32, error)
}

// Exporter freezes a trained model for the packed engine (export.Freeze); it
// returns an error for models the engine cannot run.
type Exporter func(m *models.Model) (Packed, error)

// Rank is the 0-based position of the label among the logits of one row, the
// order recipes.Correct's argmax uses: classes with a larger logit, and classes
// with an equal logit and a smaller index, come first.
func Rank(row []float32, label int) int {
	l := row[label]
	r := 0
	for j, v := range row {
		if v > l || (v == l && j < label) {
			r++
		}
	}
	return r
}

// EvalResult is one top-1/top-5 evaluation.
type EvalResult struct {
	N          int
	Top1, Top5 float64
	Loss       float64       // mean cross-entropy
	Graph      time.Duration // time inside the evaluation graph's Run, loader excluded
	// FirstN, GraphFirst and PackedFirst are the first batch's size and times, which
	// include allocating the graph's (or engine's) buffers.
	FirstN                  int
	GraphFirst, PackedFirst time.Duration
	// Packed engine figures; PackedErr says why they are missing.
	PackedTop1  float64
	PackedAgree float64 // share of examples where the packed argmax equals the graph's
	Packed      time.Duration
	PackedErr   error
}

// EvaluateTopK runs m's evaluation graph over the first limit examples of ds (all
// when limit ≤ 0) in batches of batch, and packed on the same batches when it is
// non-nil, timing both apart from the loader.
func EvaluateTopK(m *models.Model, ds datasets.Dataset, batch, workers, limit int, packed Packed) (*EvalResult, error) {
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	if n == 0 {
		return nil, fmt.Errorf("bench: evaluation set is empty")
	}
	if batch <= 0 {
		batch = 64
	}
	batch = min(batch, n)
	net, err := recipes.NewNet(m, batch, false, nil)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	l, err := datasets.NewLoader(ds, datasets.LoaderConfig{Batch: batch, Workers: workers, Eval: true})
	if err != nil {
		return nil, err
	}
	it := l.Epoch(0)
	defer it.Close()
	classes := m.Spec.Classes
	res := &EvalResult{PackedErr: errNotExported}
	if packed != nil {
		res.PackedErr = nil
	}
	var top1, top5, ptop1, agree, seen int
	var lossSum float64
	var b datasets.Batch
	for seen < n && it.Next(&b) {
		cnt := min(b.N, n-seen)
		t0 := time.Now()
		if err := net.Run(b.X, b.Y, cnt); err != nil {
			return nil, err
		}
		res.Graph += time.Since(t0)
		if seen == 0 {
			res.FirstN, res.GraphFirst = cnt, res.Graph
		}
		logits := net.Logits()
		for r := range cnt {
			row := logits[r*classes : (r+1)*classes]
			rank := Rank(row, int(b.Y[r]))
			top1 += b2i(rank == 0)
			top5 += b2i(rank < 5)
			lossSum += crossEntropy(row, int(b.Y[r]))
		}
		if packed != nil && res.PackedErr == nil {
			p1, ag := res.packedBatch(packed, &b, cnt, classes, logits, seen == 0)
			ptop1, agree = ptop1+p1, agree+ag
		}
		seen += cnt
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if seen == 0 {
		return nil, fmt.Errorf("bench: evaluation set is empty")
	}
	res.N = seen
	res.Top1, res.Top5, res.Loss = float64(top1)/float64(seen), float64(top5)/float64(seen), lossSum/float64(seen)
	if res.PackedErr == nil {
		res.PackedTop1, res.PackedAgree = float64(ptop1)/float64(seen), float64(agree)/float64(seen)
	}
	return res, nil
}

// packedBatch runs packed on the first cnt examples of b, timing it, and
// returns its top-1 hits and its argmax agreements with the graph's logits.
// A failure is kept in res.PackedErr.
func (res *EvalResult) packedBatch(packed Packed, b *datasets.Batch, cnt, classes int, logits []float32, first bool) (top1, agree int) {
	per := len(b.X) / b.N
	t0 := time.Now()
	pl, err := packed.Predict(b.X[:cnt*per], cnt)
	res.Packed += time.Since(t0)
	if first {
		res.PackedFirst = res.Packed
	}
	switch {
	case err != nil:
		res.PackedErr = fmt.Errorf("bench: packed engine: %w", err)
	case len(pl) != cnt*classes:
		res.PackedErr = fmt.Errorf("bench: packed engine returned %d logits for %d×%d", len(pl), cnt, classes)
	default:
		for r := range cnt {
			prow := pl[r*classes : (r+1)*classes]
			top1 += b2i(Rank(prow, int(b.Y[r])) == 0)
			agree += b2i(argmax(prow) == argmax(logits[r*classes:(r+1)*classes]))
		}
	}
	return top1, agree
}

// Rates returns images per second of the graph and of the packed engine (0 when
// it did not run), leaving out the first batch when there are more.
func (r *EvalResult) Rates() (graph, packed float64) {
	rate := func(total, first time.Duration) float64 {
		n, d := r.N, total
		if r.FirstN < r.N && total > first {
			n, d = r.N-r.FirstN, total-first
		}
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	graph = rate(r.Graph, r.GraphFirst)
	if r.PackedErr == nil && r.Packed > 0 {
		packed = rate(r.Packed, r.PackedFirst)
	}
	return graph, packed
}

// errNotExported marks an evaluation run without a packed model.
var errNotExported = fmt.Errorf("not exported")

func crossEntropy(row []float32, label int) float64 {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v - m))
	}
	return math.Log(s) - float64(row[label]-m)
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
