package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// InferRow is one line of the inference table: one worker at one batch.
type InferRow struct {
	Model, Recipe string // a peer's Recipe is "pytorch-float" or "pytorch-int8"
	Peer          string // "" for the engine, "float" or "int8"
	Threads       int
	Best          bool // a peer's setting kept for all-cores comparisons (faster median)
	Batch         int
	Rounds        int
	// Seconds per call: median over rounds of each round's median, and
	// the least call seen.
	Median, Min float64
	// Speed-ups over the peers (peer time / ours), median over rounds of
	// the per-round ratio: the 1-thread peer for 1-thread rows, the peer's
	// best setting for all-cores rows; 0 when not measured.
	VsFloat, VsInt8 float64
	// VsOneThread is, for an all-cores row, its time over the same
	// worker's 1-thread time at the same batch (median over rounds).
	VsOneThread float64
	Err         string
}

// IPS is the row's images per second.
func (r InferRow) IPS() float64 {
	if r.Median == 0 {
		return 0
	}
	return float64(r.Batch) / r.Median
}

// FloatLayer compares one of the engine's float layers with PyTorch's.
type FloatLayer struct {
	Layer string
	// Seconds, medians over rounds: the engine's trace row (the layer and
	// the elementwise layers before it), the engine's layer alone (a
	// one-layer model) and PyTorch's module alone.
	Trace, Engine, Torch float64
	Ratio                float64 // engine alone / PyTorch, median over rounds of the per-round ratio
}

// InferReport is the result of RunInfer.
type InferReport struct {
	Machine   Machine
	Command   string
	Rows      []InferRow
	Trace     []LayerTime  // ResNet-18 xnor at 1 thread, medians over rounds
	Floats    []FloatLayer // conv1 and classifier against PyTorch
	Rounds    int
	Runs      int // batch-1 calls per sample
	BatchRuns int // throughput calls per sample
	Batch     int // throughput batch
	Threads   int // all cores
	InProcess bool
	TorchNote string
	Builds    []string // build time per model
	LoadEnd   string
	LoadMax   float64
	// Other processes' CPU share (in CPUs) over the rounds: highest (-1
	// when /proc is unreadable) and median. A ForeignMax above
	// benchproc.ForeignLimit marks the machine busy: no target passes.
	ForeignMax, ForeignMedian float64
	Notes                     []string
	Elapsed                   time.Duration
}

// report fills in what the rounds measured.
func (t *inferRun) report(start time.Time) {
	rep := t.rep
	rep.LoadEnd = LoadAvgNow()
	rep.ForeignMax = -1
	if t.cpuOK {
		rep.ForeignMax = slices.Max(t.foreign)
		rep.ForeignMedian = medianOf(t.foreign)
	}
	if t.torch != nil {
		var info *TorchInfo
		for _, p := range t.procs {
			if p.info != nil && (info == nil || p.info.Variant != "" && p.info.Variant != "eager") {
				info = p.info // the float peer's, which names its variant
			}
		}
		rep.TorchNote = t.torch.inferNote(info)
	}
	rep.Rows = t.rows()
	rep.Trace, rep.Floats = t.layerRows()
	for _, p := range t.procs {
		if p.err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s failed: %v", p.name(), p.err))
		}
	}
	if t.torch != nil && slices.ContainsFunc(t.o.Models, func(m InferModel) bool { return !peerModels[m.Model] }) {
		rep.Notes = append(rep.Notes, "ResNet-20 has no PyTorch peer: torchvision has no CIFAR ResNet-20 nor a quantizable one.")
	}
	rep.Elapsed = time.Since(start)
}

// bestPeer is, per peer kind and batch, the thread setting with the faster median.
func (t *inferRun) bestPeer(peer string, b int) *inferProc {
	var best *inferProc
	for _, p := range t.procs {
		if p.peer == peer && len(p.get(b).med) > 0 && (best == nil || medianOf(p.get(b).med) < medianOf(best.get(b).med)) {
			best = p
		}
	}
	return best
}

// peerAt is the peer at threads (0: the best setting) and batch b.
func (t *inferRun) peerAt(peer string, threads, b int) *series {
	if threads == 0 {
		if p := t.bestPeer(peer, b); p != nil {
			return p.get(b)
		}
		return nil
	}
	for _, p := range t.procs {
		if p.peer == peer && p.threads == threads {
			return p.get(b)
		}
	}
	return nil
}

// rows makes the table: every worker at batch 1 and the throughput batch.
func (t *inferRun) rows() []InferRow {
	var rows []InferRow
	engineFirst := slices.Clone(t.procs)
	rank := map[string]int{"": 0, "float": 1, "int8": 2}
	slices.SortStableFunc(engineFirst, func(a, b *inferProc) int { return rank[a.peer] - rank[b.peer] })
	for _, p := range engineFirst {
		for _, b := range []int{1, t.o.Batch} {
			s := p.get(b)
			row := InferRow{Model: p.m.Model, Recipe: p.m.Recipe, Peer: p.peer, Threads: p.threads, Batch: b, Rounds: len(s.med)}
			if p.err != nil {
				row.Err = p.err.Error()
			}
			if len(s.med) > 0 {
				row.Median, row.Min = medianOf(s.med), slices.Min(s.min)
			}
			row.Best = p.peer != "" && t.bestPeer(p.peer, b) == p
			if p.peer == "" && peerModels[p.m.Model] {
				th := 1
				if p.threads > 1 {
					th = 0
				}
				row.VsFloat = ratioOver(t.peerAt("float", th, b), s)
				row.VsInt8 = ratioOver(t.peerAt("int8", th, b), s)
			}
			if p.threads > 1 {
				for _, q := range t.procs {
					if q.m == p.m && q.peer == p.peer && q.threads == 1 {
						row.VsOneThread = ratioOver(s, q.get(b))
					}
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// layerRows is the per-layer trace of ResNet-18 xnor at 1 thread (medians
// over rounds) and its float layers against PyTorch float at 1 thread.
func (t *inferRun) layerRows() ([]LayerTime, []FloatLayer) {
	var eng, pt *inferProc
	for _, p := range t.procs {
		switch {
		case p.peer == "" && p.threads == 1 && p.m == InferModel{"resnet18", "xnor"}:
			eng = p
		case p.peer == "float" && p.threads == 1:
			pt = p
		}
	}
	if eng == nil || len(eng.trace) == 0 {
		return nil, nil
	}
	var rounds []int
	for r := range eng.trace {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	first := eng.trace[rounds[0]]
	per := make([]series, len(first))
	for _, r := range rounds {
		lt := eng.trace[r]
		for i := range min(len(lt), len(per)) {
			per[i].add(r, lt[i].Secs, lt[i].Secs)
		}
	}
	trace := make([]LayerTime, len(first))
	for i, l := range first {
		trace[i] = LayerTime{Name: l.Name, Kernel: l.Kernel, Secs: medianOf(per[i].med)}
	}
	if pt == nil || len(per) < 2 {
		return trace, nil
	}
	floats := []FloatLayer{
		{Layer: "conv1 7×7/2, 3→64, 224 px (engine: " + first[0].Name + ")", Trace: trace[0].Secs},
		{Layer: "classifier 512→1000 (engine: " + first[len(first)-1].Name + ")", Trace: trace[len(trace)-1].Secs},
	}
	for i, name := range []string{"conv1", "fc"} {
		e, s := eng.layers[name], pt.layers[name]
		if e == nil || s == nil || len(e.med) == 0 || len(s.med) == 0 {
			continue
		}
		floats[i].Engine, floats[i].Torch = medianOf(e.med), medianOf(s.med)
		floats[i].Ratio = ratioOver(e, s)
	}
	return trace, floats
}

// Row returns the engine row (peer "") or peer row of model/recipe at
// threads and batch, or nil.
func (r *InferReport) Row(model, recipe string, threads, batch int) *InferRow {
	for i := range r.Rows {
		w := &r.Rows[i]
		if w.Model == model && w.Recipe == recipe && w.Threads == threads && w.Batch == batch {
			return w
		}
	}
	return nil
}

// Busy returns a sentence when other processes used more than
// benchproc.ForeignLimit of a CPU during some round, "" otherwise. The
// banner and the verdicts both follow it (busyBanner, as bench train's);
// the load average is shown, not judged.
func (r *InferReport) Busy() string { return busyBanner(r.ForeignMax, r.ForeignMedian) }

func fmtIPS(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", x)
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

// WriteMarkdown writes the report: header, run facts, tables, targets and notes.
func (r *InferReport) WriteMarkdown(w io.Writer) {
	WriteHeader(w, "Packed inference, whole networks", r.Command, r.Machine)
	r.writeRun(w)
	r.writeTable(w)
	r.writeLayers(w)
	fmt.Fprintf(w, "## Targets (issue 10)\n\n| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range r.Targets() {
		fmt.Fprintf(w, "| %s | %s | **%s** |\n", t.Text, t.Measured, t.Verdict)
	}
	fmt.Fprintf(w, "\nRatios are speed-ups (PyTorch's time over ours) unless they compare our own settings; each is the median over rounds of the per-round ratio, both sides timed in the same round. A target is PASS or FAIL on the measured ratio; when the machine was busy no target passes (\"busy\"), and a failing one still shows FAIL.\n")
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func (r *InferReport) writeRun(w io.Writer) {
	fmt.Fprintf(w, "| run | |\n|---|---|\n")
	engine := fmt.Sprintf("each model built once (initial weights, one eval batch of %d, export.Freeze, saved); one child process per thread setting loads it, GOMAXPROCS=1 and GOMAXPROCS=%d", calibBatch, r.Threads)
	if r.InProcess {
		engine = "in-process (test run): every thread setting shares this process's GOMAXPROCS"
	}
	fmt.Fprintf(w, "| engine | %s |\n", engine)
	fmt.Fprintf(w, "| builds | %s |\n", joinOr(r.Builds, "none"))
	fmt.Fprintf(w, "| PyTorch | %s |\n", r.TorchNote)
	fmt.Fprintf(w, "| cores | %d (runtime.NumCPU); all cores = %s |\n", runtime.NumCPU(), plural(r.Threads, "thread"))
	fmt.Fprintf(w, "| rounds | %d per network, one network at a time (memory); in each, the network's workers and, for the ResNet-18 family, both PyTorch peers at each thread setting run batch 1 (%s, median) and batch %d (%s, median) back to back, each after untimed calls for %v (at least one: the worker was just thawed), the others stopped (SIGSTOP), order rotated each round |\n",
		r.Rounds, plural(r.Runs, "call"), r.Batch, plural(r.BatchRuns, "call"), warmUp)
	fmt.Fprintf(w, "| load average | start %s, highest at a round's start %.2f, end %s (counts this harness's own workers and decays over minutes; shown, not judged) |\n", r.Machine.LoadAvg, r.LoadMax, r.LoadEnd)
	other := "not measured (no /proc)"
	if r.ForeignMax >= 0 {
		other = fmt.Sprintf("highest %.2f CPU in a round, median %.2f (/proc/stat less this process and its workers)", r.ForeignMax, r.ForeignMedian)
	}
	fmt.Fprintf(w, "| other processes | %s |\n", other)
	fmt.Fprintf(w, "| elapsed | %s |\n\n", r.Elapsed.Round(time.Second))
	if busy := r.Busy(); busy != "" {
		fmt.Fprintf(w, "**%s No target is shown as passing; rerun on a quiet machine for numbers to quote.**\n\n", busy)
	}
}

func (r *InferReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "| network | config | threads | batch | rounds | median ms | min ms | images/s | vs PyTorch float | vs PyTorch int8 | all cores / 1 thread |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		cfg := row.Recipe
		if row.Best {
			cfg += " (best)"
		}
		if row.Err != "" {
			cfg += " (failed: see notes)"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", row.Model, cfg, row.Threads, row.Batch, row.Rounds,
			fmtMS(row.Median), fmtMS(row.Min), fmtIPS(row.IPS()), fmtRatio(row.VsFloat), fmtRatio(row.VsInt8), fmtRatio(row.VsOneThread))
	}
	fmt.Fprintf(w, "\n\"vs PyTorch\" is PyTorch's time over ours (above 1×: we are faster): against its 1-thread setting on 1-thread rows, against its faster setting (\"best\") on all-cores rows. ")
	fmt.Fprintf(w, "\"all cores / 1 thread\" is the all-cores time over the same worker's 1-thread time (below 1×: more threads help). Inputs are seeded normal noise; speed does not depend on the weights' values.\n\n")
}

func (r *InferReport) writeLayers(w io.Writer) {
	if len(r.Trace) == 0 {
		return
	}
	total := 0.0
	for _, l := range r.Trace {
		total += l.Secs
	}
	fmt.Fprintf(w, "## Where the time goes: ResNet-18 xnor, 1 thread, batch 1 (Model.Trace)\n\n")
	fmt.Fprintf(w, "Each row is the time from the previous conv/dense callback to this one: the layer **plus the elementwise layers (BatchNorm, sign, ReLU, pooling, residual adds) run before it**. Trace runs the unfused float path between binary layers and hands every layer's tensors to the callback, so its total (%s ms) is above Predict's.\n\n", fmtMS(total))
	fmt.Fprintf(w, "| # | layer | kernel | ms | share |\n|---:|---|---|---:|---:|\n")
	for i, l := range r.Trace {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %.1f%% |\n", i+1, l.Name, l.Kernel, fmtMS(l.Secs), 100*l.Secs/total)
	}
	if len(r.Floats) > 0 {
		fmt.Fprintf(w, "\nFloat layers against PyTorch float at 1 thread, batch 1. \"alone\" is the layer by itself: ours a one-layer model built from the exported layer's spec (every engine timing here calls Model.PredictTo with the previous call's output buffer, as a service would), PyTorch's the module (`model.conv1`, `model.fc`) called on its own, conv1 in the fastest of its eager, channels_last and to_mkldnn forms (input already in that layout); the ratio and the target use these. The trace row above also holds the elementwise layers before the layer (for the classifier: the last block's BatchNorm, residual add, ReLU and the global pooling).\n\n")
		fmt.Fprintf(w, "| layer | lowbit trace row ms | lowbit alone ms | PyTorch alone ms | lowbit / PyTorch (alone) |\n|---|---:|---:|---:|---:|\n")
		for _, f := range r.Floats {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", f.Layer, fmtMS(f.Trace), fmtMS(f.Engine), fmtMS(f.Torch), fmtRatio(f.Ratio))
		}
	}
	fmt.Fprintln(w)
}
