package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/internal/benchproc"
)

// InferModel is one exported network of the inference benchmark.
type InferModel struct{ Model, Recipe string }

func (m InferModel) String() string { return m.Model + "/" + m.Recipe }

// DefaultInferModels are issue 10's networks: the ResNet-18 family at
// 224 px and 1000 classes (torchvision's shape), and ResNet-20 (CIFAR, 32 px).
var DefaultInferModels = []InferModel{
	{"resnet18", "xnor"}, {"birealnet18", "xnor"}, {"resnet18", "lsq-w4a4"}, {"resnet18", "dorefa-w1a2"},
	{"resnet18", "fp"}, {"resnet20", "xnor"}, {"resnet20", "fp"},
}

// ParseInferModels turns "model/recipe" items into models; a bare model
// name selects DefaultInferModels' entries of that model.
func ParseInferModels(items []string) ([]InferModel, error) {
	var out []InferModel
	for _, it := range items {
		model, recipe, ok := strings.Cut(it, "/")
		var add []InferModel
		if ok {
			add = []InferModel{{model, recipe}}
		} else {
			for _, m := range DefaultInferModels {
				if m.Model == it {
					add = append(add, m)
				}
			}
		}
		if len(add) == 0 || model == "" || recipe == "" && ok {
			return nil, fmt.Errorf("bench: -models: %q is neither MODEL/RECIPE nor one of %s", it, inferModelNames())
		}
		for _, m := range add {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func inferModelNames() string {
	var s []string
	for _, m := range DefaultInferModels {
		s = append(s, m.String())
	}
	return strings.Join(s, ", ")
}

// peerModels are the models PyTorch is compared on: torchvision's
// resnet18 and its quantizable twin have the ResNet-18 family's shape.
var peerModels = map[string]bool{"resnet18": true, "birealnet18": true}

// InferOptions configures RunInfer.
type InferOptions struct {
	Models    []InferModel // default DefaultInferModels
	Rounds    int          // interleaved rounds; default 5
	Runs      int          // batch-1 calls per sample; default 20
	BatchRuns int          // throughput calls per sample; default 2
	Batch     int          // throughput batch; default 32
	Threads   int          // "all cores"; default runtime.NumCPU()
	Seed      uint64
	// Torch is a Python interpreter with torch and torchvision; "" skips
	// the PyTorch peers.
	Torch   string
	Command string // the command line written into the report
	// Worker starts a child process for w (a build or a server, see
	// InferWorker); nil builds and serves in this process (one GOMAXPROCS
	// for every thread setting: tests only).
	Worker     func(w InferWorker) *exec.Cmd
	OnProgress func(msg string)
}

func (o *InferOptions) defaults() {
	if len(o.Models) == 0 {
		o.Models = DefaultInferModels
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Runs <= 0 {
		o.Runs = 20
	}
	if o.BatchRuns <= 0 {
		o.BatchRuns = 2
	}
	if o.Batch <= 0 {
		o.Batch = 32
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// series is one measured quantity, one entry per round it was measured in.
type series struct {
	rounds []int
	med    []float64 // seconds (per call)
	min    []float64
}

func (s *series) add(round int, med, lo float64) {
	s.rounds = append(s.rounds, round)
	s.med = append(s.med, med)
	s.min = append(s.min, lo)
}

// at returns the value of round r, and whether it was measured.
func (s *series) at(r int) (float64, bool) {
	if s == nil {
		return 0, false
	}
	if i := slices.Index(s.rounds, r); i >= 0 {
		return s.med[i], true
	}
	return 0, false
}

// ratioOver is the median over the rounds both measured of num/den.
func ratioOver(num, den *series) float64 {
	if num == nil || den == nil {
		return 0
	}
	var r []float64
	for i, rd := range num.rounds {
		if d, ok := den.at(rd); ok && d > 0 {
			r = append(r, num.med[i]/d)
		}
	}
	return medianOf(r)
}

// inferProc is the parent's handle on one worker: an engine server or a
// PyTorch peer.
type inferProc struct {
	m       InferModel // engine: the network; peer: Model "resnet18"
	peer    string     // "" engine, "float" or "int8"
	threads int
	proc    *benchproc.Proc
	info    *TorchInfo
	err     error
	peakKB  int64
	batch   map[int]*series // by batch size
	layers  map[string]*series
	trace   map[int][]LayerTime // engine ResNet-18 xnor at 1 thread, by round
}

func (p *inferProc) name() string {
	if p.peer != "" {
		return fmt.Sprintf("pytorch-%s-%dt", p.peer, p.threads)
	}
	return fmt.Sprintf("%s-%dt", p.m, p.threads)
}

func (p *inferProc) get(b int) *series {
	if p.batch[b] == nil {
		p.batch[b] = &series{}
	}
	return p.batch[b]
}

// inferRun is one RunInfer.
type inferRun struct {
	o       InferOptions
	rep     *InferReport
	dir     string
	torch   *torchPeer
	procs   []*inferProc // every worker started, engine and peers
	peers   []*inferProc // the PyTorch handles, one per kind and thread setting
	foreign []float64
	cpuOK   bool
}

// RunInfer builds every model once (in a child when o.Worker is set), starts
// an engine server per model and thread setting and the PyTorch peers, then
// times them all in interleaved rounds. Failures are kept in the report's
// rows and notes, not returned.
func RunInfer(o InferOptions) (*InferReport, error) {
	o.defaults()
	start := time.Now()
	dir, err := os.MkdirTemp("", "lowbit-infer-")
	if err != nil {
		return nil, fmt.Errorf("bench: infer: %w", err)
	}
	defer os.RemoveAll(dir)
	t := &inferRun{o: o, dir: dir, rep: &InferReport{Machine: ThisMachine(), Command: o.Command, Rounds: o.Rounds,
		Runs: o.Runs, BatchRuns: o.BatchRuns, Batch: o.Batch, Threads: o.Threads, InProcess: o.Worker == nil}}
	defer t.close()
	t.rep.TorchNote = "PyTorch: not run (no -torch interpreter given)"
	if o.Torch != "" {
		if t.torch, t.rep.TorchNote, err = newInferPeer(o.Torch, o.Threads); err != nil {
			return nil, err
		}
	}
	t.startPeers()
	round := 0
	for i, m := range o.Models {
		procs := t.startModel(i, m)
		active := procs
		if peerModels[m.Model] {
			active = append(active, t.peers...)
		}
		for r := range o.Rounds {
			if l, err := strconv.ParseFloat(LoadAvgNow(), 64); err == nil {
				t.rep.LoadMax = max(t.rep.LoadMax, l)
			}
			t.progress("%s: round %d/%d (load %s)", m, r+1, o.Rounds, LoadAvgNow())
			t.round(active, round)
			round++
		}
		stop(procs)
		if !slices.ContainsFunc(o.Models[i+1:], func(m InferModel) bool { return peerModels[m.Model] }) {
			stop(t.peers)
		}
	}
	t.close()
	t.report(start)
	return t.rep, nil
}

func (t *inferRun) progress(format string, args ...any) {
	if t.o.OnProgress != nil {
		t.o.OnProgress(fmt.Sprintf(format, args...))
	}
}

func (t *inferRun) threadSettings() []int {
	if t.o.Threads > 1 {
		return []int{1, t.o.Threads}
	}
	return []int{1}
}

// startModel builds model i once and starts its servers, one per thread
// setting; a failed build is noted and starts none.
func (t *inferRun) startModel(i int, m InferModel) []*inferProc {
	w := InferWorker{Model: m.Model, Recipe: m.Recipe, File: filepath.Join(t.dir, fmt.Sprintf("m%d.lbm", i)),
		Batch: t.o.Batch, Seed: t.o.Seed, Build: true}
	t.progress("building %s", m)
	t0 := time.Now()
	if err := t.build(w); err != nil {
		t.rep.Notes = append(t.rep.Notes, fmt.Sprintf("%s: build failed: %v", m, err))
		return nil
	}
	t.rep.Builds = append(t.rep.Builds, fmt.Sprintf("%s %.1f s", m, time.Since(t0).Seconds()))
	w.Build = false
	var procs []*inferProc
	for _, n := range t.threadSettings() {
		w.Threads = n
		p := &inferProc{m: m, threads: n, batch: map[int]*series{}}
		t.procs = append(t.procs, p)
		procs = append(procs, p)
		t.progress("starting %s", p.name())
		if t.o.Worker == nil {
			w := w
			p.proc = benchproc.StartFunc(p.name(), func(in io.Reader, out io.Writer) error { return ServeInfer(w, in, out) })
		} else if p.proc, p.err = benchproc.Start(p.name(), t.o.Worker(w)); p.err != nil {
			continue
		}
		t.ready(p)
	}
	return procs
}

// build runs BuildInfer in a child (waiting for it) or in this process.
func (t *inferRun) build(w InferWorker) error {
	if t.o.Worker == nil {
		return BuildInfer(w)
	}
	cmd := t.o.Worker(w)
	var tail strings.Builder
	cmd.Stderr = &tail
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(tail.String())
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}

// ready waits for p's warm-up (and a peer's info) and freezes it.
func (t *inferRun) ready(p *inferProc) {
	if _, p.err = p.proc.Ready(10 * time.Minute); p.err != nil {
		return
	}
	if p.peer != "" {
		p.info, p.err = askTorchInfo(p.proc)
	}
	p.proc.Freeze(true)
}

// startPeers starts PyTorch float and int8 when some model has a peer:
// one process per kind (memory), serving every thread setting
// (torch.set_num_threads before each timing), one handle per setting.
func (t *inferRun) startPeers() {
	if t.torch == nil || !slices.ContainsFunc(t.o.Models, func(m InferModel) bool { return peerModels[m.Model] }) {
		return
	}
	for _, peer := range []string{"float", "int8"} {
		var first *inferProc
		for _, n := range t.threadSettings() {
			p := &inferProc{m: InferModel{"resnet18", "pytorch-" + peer}, peer: peer, threads: n, batch: map[int]*series{}}
			t.procs = append(t.procs, p)
			t.peers = append(t.peers, p)
			if first != nil {
				p.proc, p.info, p.err = first.proc, first.info, first.err
				continue
			}
			first = p
			t.progress("starting pytorch-%s", peer)
			if p.proc, p.err = benchproc.Start("pytorch-"+peer, t.torch.inferCommand(peer, t.o.Batch, t.o.Threads, t.o.Seed)); p.err == nil {
				t.ready(p)
			}
		}
	}
}

// stop asks each worker to quit (once; handles may share a process) and
// keeps its peak RSS.
func stop(ps []*inferProc) {
	for _, p := range ps {
		if p.proc == nil || p.proc.Closed() {
			continue
		}
		quit := "quit"
		if p.err != nil {
			quit = ""
		}
		if f, err := p.proc.Close(quit, "peak"); err == nil && len(f) > 0 {
			p.peakKB, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
}

// close stops every worker and removes the PyTorch scripts.
func (t *inferRun) close() {
	stop(t.procs)
	if t.torch != nil {
		t.torch.close()
	}
}

// inferSample is one timing of a round: a worker and what it is asked.
type inferSample struct {
	p   *inferProc
	req string // "run B N", "trace N" or "layers N"
	b   int
}

// samples lists a round's timings: every worker at batch 1 and at the
// throughput batch, and the per-layer timings of ResNet-18 xnor at 1 thread
// and of PyTorch float's conv1 and fc at 1 thread.
func (t *inferRun) samples(active []*inferProc) []inferSample {
	var s []inferSample
	hasXnor := slices.ContainsFunc(active, func(p *inferProc) bool { return p.m == InferModel{"resnet18", "xnor"} })
	for _, p := range active {
		th := "" // a peer is told its thread setting with each request
		if p.peer != "" {
			th = fmt.Sprintf(" %d", p.threads)
		}
		s = append(s, inferSample{p, fmt.Sprintf("run 1 %d%s", t.o.Runs, th), 1},
			inferSample{p, fmt.Sprintf("run %d %d%s", t.o.Batch, t.o.BatchRuns, th), t.o.Batch})
		if p.threads == 1 && hasXnor && (p.peer == "" || p.peer == "float") {
			s = append(s, inferSample{p, fmt.Sprintf("layers %d%s", t.o.Runs, th), 0})
		}
		if p.threads == 1 && p.peer == "" && p.m == (InferModel{"resnet18", "xnor"}) {
			s = append(s, inferSample{p, "trace 3", 0})
		}
	}
	return s
}

// round runs every sample once, the order rotated each round so no worker
// always follows the same one; workers not being timed are frozen. Other
// processes' CPU during the round is counted for the report.
func (t *inferRun) round(active []*inferProc, r int) {
	var pids []int
	for _, p := range t.procs {
		if p.proc != nil && !p.proc.Closed() && p.proc.Pid() != 0 && !slices.Contains(pids, p.proc.Pid()) {
			pids = append(pids, p.proc.Pid())
		}
	}
	c0 := benchproc.Read(pids...)
	all := t.samples(active)
	for i := range all {
		s := all[(i+r*3)%len(all)]
		if s.p.err != nil || s.p.proc.Closed() {
			continue
		}
		s.p.proc.Freeze(false)
		t.sample(s, r)
		s.p.proc.Freeze(true)
		if s.p.peer != "" {
			// Let PyTorch's OpenMP threads stop spinning before the next timing.
			time.Sleep(200 * time.Millisecond)
		}
	}
	if share, ok := benchproc.Foreign(c0, benchproc.Read(pids...)); ok {
		t.foreign = append(t.foreign, share)
		t.cpuOK = true
	}
}

// sample asks s and records the reply under round r.
func (t *inferRun) sample(s inferSample, r int) {
	p := s.p
	verb, _, _ := strings.Cut(s.req, " ")
	reply := map[string]string{"run": "done", "trace": "trace", "layers": "layers"}[verb]
	f, err := p.proc.Ask(s.req, reply, 10*time.Minute)
	if err != nil {
		// Every handle on this process fails with it: a late reply would
		// otherwise answer the next request.
		for _, q := range t.procs {
			if q.proc == p.proc {
				q.err = err
			}
		}
		return
	}
	switch verb {
	case "run":
		if len(f) < 2 {
			p.err = fmt.Errorf("bench: %s: short reply %q", p.name(), f)
			return
		}
		med, err1 := strconv.ParseFloat(f[0], 64)
		lo, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			p.err = fmt.Errorf("bench: %s: bad reply %q", p.name(), f)
			return
		}
		p.get(s.b).add(r, med, lo)
	case "trace":
		lt, err := parseTrace(f)
		if err != nil {
			p.err = fmt.Errorf("bench: %s: %w", p.name(), err)
			return
		}
		if p.trace == nil {
			p.trace = map[int][]LayerTime{}
		}
		p.trace[r] = lt
	case "layers":
		for i, name := range []string{"conv1", "fc"} {
			if i < len(f) {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					if p.layers == nil {
						p.layers = map[string]*series{}
					}
					if p.layers[name] == nil {
						p.layers[name] = &series{}
					}
					p.layers[name].add(r, v, v)
				}
			}
		}
	}
}
