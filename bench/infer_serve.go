package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// InferWorker is one engine worker: it builds a model into File (Build),
// or serves the model in File with ServeInfer.
type InferWorker struct {
	Model, Recipe string
	File          string
	Threads       int // GOMAXPROCS the child runs with; 0 in-process
	Batch         int // the throughput batch
	Seed          uint64
	Build         bool
}

// calibBatch is the eval batch run before export.Freeze so data-initialised
// quantizers (LSQ's step sizes) are set.
const calibBatch = 2

// randomInput is n samples of shape in, normal(0,1), seeded.
func randomInput(in []int, n int, seed uint64) []float32 {
	per := 1
	for _, d := range in {
		per *= d
	}
	rng := rand.New(rand.NewPCG(seed, 0x1fe7))
	x := make([]float32, n*per)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// BuildInfer builds w's model with its initial weights (speed does not
// depend on training), runs one eval batch so data-initialised quantizers
// are set, freezes it and saves it to w.File.
func BuildInfer(w InferWorker) error {
	r, err := recipes.Lookup(w.Recipe)
	if err != nil {
		return fmt.Errorf("bench: %s/%s: %w", w.Model, w.Recipe, err)
	}
	spec := r.Config(w.Model, "").Model
	spec.Seed = w.Seed
	m, err := models.New(spec)
	if err != nil {
		return fmt.Errorf("bench: %s/%s: %w", w.Model, w.Recipe, err)
	}
	net, err := recipes.NewNet(m, calibBatch, false, nil)
	if err != nil {
		return fmt.Errorf("bench: %s/%s: %w", w.Model, w.Recipe, err)
	}
	err = net.Run(randomInput(m.Spec.Input, calibBatch, w.Seed), make([]int32, calibBatch), calibBatch)
	net.Close()
	if err != nil {
		return fmt.Errorf("bench: %s/%s: eval batch: %w", w.Model, w.Recipe, err)
	}
	bm, err := export.Freeze(m)
	if err != nil {
		return fmt.Errorf("bench: %s/%s: %w", w.Model, w.Recipe, err)
	}
	if err := bm.Save(w.File); err != nil {
		return fmt.Errorf("bench: %s/%s: %w", w.Model, w.Recipe, err)
	}
	return nil
}

// LayerTime is one row of a Model.Trace timing: the time from the previous
// callback (or the start) to this layer's callback, so it holds the layer
// and the elementwise layers (BatchNorm, activation, pooling, residual
// adds) run before it.
type LayerTime struct {
	Name   string  `json:"name"`
	Kernel string  `json:"kernel"`
	Secs   float64 `json:"secs"` // median over the trace passes
}

// ServeInfer loads w.File, warms up, then answers requests on in until
// "quit" (one line each way):
//
//	on start, after warm-up: "ready SECONDS_OF_LAST_BATCH1_CALL"
//	"run B N"   → "done MEDIAN MIN TOTAL" (seconds; N Predict calls at batch B)
//	"trace N"   → "trace JSON" ([]LayerTime over N Model.Trace passes at batch 1)
//	"layers N"  → "layers CONV DENSE" (median seconds of the first conv and the
//	              last dense layer, each alone as a one-layer model, batch 1)
//	"quit"      → "peak KB" (VmHWM of this process)
//
// A failure is reported as "error MESSAGE" and returned.
func ServeInfer(w InferWorker, in io.Reader, out io.Writer) error {
	fail := func(err error) error {
		fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	bm, err := bitpack.Load(w.File)
	if err != nil {
		return fail(err)
	}
	batch := max(w.Batch, 1)
	x := randomInput(bm.Input(), batch, w.Seed)
	if _, err := bm.Predict(x, batch); err != nil {
		return fail(err)
	}
	var last float64
	for range 3 {
		s, _, _, err := timedPredict(bm, x, 1, 1)
		if err != nil {
			return fail(err)
		}
		last = s
	}
	fmt.Fprintf(out, "ready %.9f\n", last)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "quit" {
			fmt.Fprintf(out, "peak %d\n", peakRSSKB())
			return nil
		}
		if len(f) == 0 {
			continue
		}
		reply, err := inferRequest(bm, x, batch, f)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(out, reply)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("bench: input closed before quit")
}

// inferRequest answers one "run" or "trace" request.
func inferRequest(bm *bitpack.Model, x []float32, batch int, f []string) (string, error) {
	bad := fmt.Errorf("bench: bad request %q", strings.Join(f, " "))
	switch {
	case f[0] == "run" && len(f) == 3:
		b, err1 := strconv.Atoi(f[1])
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || b < 1 || b > batch || n < 1 {
			return "", bad
		}
		med, lo, tot, err := timedPredict(bm, x, b, n)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("done %.9f %.9f %.9f", med, lo, tot), nil
	case f[0] == "layers" && len(f) == 2:
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return "", bad
		}
		conv, dense, err := floatLayersAlone(bm, x, n)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("layers %.9f %.9f", conv, dense), nil
	case f[0] == "trace" && len(f) == 2:
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return "", bad
		}
		lt, err := traceLayers(bm, x, n)
		if err != nil {
			return "", err
		}
		j, err := json.Marshal(lt)
		if err != nil {
			return "", err
		}
		return "trace " + string(j), nil
	}
	return "", bad
}

// timedPredict runs n Predict calls at batch b and returns the median,
// least and total seconds.
// warmUp is how long each timing first calls its model untimed.
const warmUp = 20 * time.Millisecond

func timedPredict(bm *bitpack.Model, x []float32, b, n int) (med, lo, total float64, err error) {
	size := sampleSize(bm)
	ts := make([]float64, n)
	var out []float32 // reused, as a service would: no allocation per call
	// Untimed calls first, for warmUp and at least one: the worker was
	// stopped (SIGSTOP) until just now, and on this VM the other core,
	// idle meanwhile, takes milliseconds to run at speed again (a
	// ResNet-20 batch-32 sample at 2 threads read 11.3 ms median, 6.8 ms
	// min: its first call; at batch 1 its first ~10 ms of calls ran at
	// 1.3× their steady time). PyTorch's timings do the same
	// (torch_infer.py).
	for w0 := time.Now(); ; {
		if out, err = bm.PredictTo(out, x[:b*size], b); err != nil {
			return 0, 0, 0, err
		}
		if time.Since(w0) >= warmUp {
			break
		}
	}
	t00 := time.Now()
	for i := range n {
		t0 := time.Now()
		if out, err = bm.PredictTo(out, x[:b*size], b); err != nil {
			return 0, 0, 0, err
		}
		ts[i] = time.Since(t0).Seconds()
	}
	total = time.Since(t00).Seconds()
	return medianOf(ts), slices.Min(ts), total, nil
}

// traceLayers times n Model.Trace passes at batch 1: each layer's time is
// the gap since the previous callback, median over the passes.
func traceLayers(bm *bitpack.Model, x []float32, n int) ([]LayerTime, error) {
	var rows []LayerTime
	var secs [][]float64
	for pass := range n {
		i := 0
		last := time.Now()
		_, err := bm.Trace(x[:sampleSize(bm)], 1, func(t bitpack.Trace) error {
			d := time.Since(last).Seconds()
			if pass == 0 {
				rows = append(rows, LayerTime{Name: t.Name, Kernel: t.Kernel})
				secs = append(secs, nil)
			}
			if i >= len(rows) || rows[i].Name != t.Name {
				return fmt.Errorf("bench: trace pass %d: layer %d is %q, not the first pass's", pass, i, t.Name)
			}
			secs[i] = append(secs[i], d)
			i++
			last = time.Now()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i := range rows {
		rows[i].Secs = medianOf(secs[i])
	}
	return rows, nil
}

// sampleSize is the values per input sample of bm.
func sampleSize(bm *bitpack.Model) int {
	size := 1
	for _, d := range bm.Input() {
		size *= d
	}
	return size
}

// floatLayersAlone times bm's first layer (a conv) and its last (a dense
// classifier) each alone, as a one-layer model built from bm's spec, n
// calls at batch 1: the work PyTorch's conv1 and fc modules do.
func floatLayersAlone(bm *bitpack.Model, x []float32, n int) (conv, dense float64, err error) {
	spec := bm.Spec()
	ls := spec.Layers
	if len(ls) < 2 || ls[0].Kind != bitpack.LayerConv || ls[len(ls)-1].Kind != bitpack.LayerDense {
		return 0, 0, fmt.Errorf("bench: layers: the model does not start with a conv and end with a dense layer")
	}
	first, last := ls[0], ls[len(ls)-1]
	in := bm.Input()
	oh := (in[0]+2*first.Pad-first.KH)/first.Stride + 1
	ow := (in[1]+2*first.Pad-first.KW)/first.Stride + 1
	cm, err := bitpack.NewModel(bitpack.Spec{Input: in, Classes: oh * ow * first.Out, Layers: []bitpack.LayerSpec{first}})
	if err != nil {
		return 0, 0, fmt.Errorf("bench: layers: %s alone: %w", first.Name, err)
	}
	dm, err := bitpack.NewModel(bitpack.Spec{Input: []int{1, 1, last.In}, Classes: last.Out, Layers: []bitpack.LayerSpec{last}})
	if err != nil {
		return 0, 0, fmt.Errorf("bench: layers: %s alone: %w", last.Name, err)
	}
	if _, err := cm.Predict(x[:sampleSize(cm)], 1); err != nil {
		return 0, 0, err
	}
	if conv, _, _, err = timedPredict(cm, x, 1, n); err != nil {
		return 0, 0, err
	}
	if _, err := dm.Predict(x[:last.In], 1); err != nil {
		return 0, 0, err
	}
	dense, _, _, err = timedPredict(dm, x, 1, n)
	return conv, dense, err
}
