package bench

import (
	"fmt"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/internal/benchproc"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// TrainOptions configures RunTrain. The zero value plus a Command runs the
// issue's full benchmark.
type TrainOptions struct {
	Models  []string // default resnet20, resnet18, lenet5 (skipped with a note while unregistered)
	Recipes []string // nil: every registered recipe (fp first) on every model
	Batch   int      // 0: 64 for lenet5 and mlp, 32 for resnet18 (224 px), 128 otherwise (CIFAR)
	Rounds  int      // interleaved rounds; default 5
	Steps   int      // timed steps per config per round; default 20
	Warmup  int      // untimed steps before the first round; default 3
	// Budget bounds the timed rounds: after warm-up, a model whose configs
	// would take too long gets fewer steps per round (all its configs the
	// same), though not fewer than 0.3 s of one config's steps (minRoundSecs)
	// when Steps allows, so the budget may be exceeded. 0 means 5 minutes; starting the workers (building graphs,
	// warm-up) comes on top, a few minutes for every recipe on ResNet-20.
	Budget time.Duration
	// MaxWorkers bounds the workers a model runs at once besides fp and
	// PyTorch (each is a process holding a model, ~1.5 GB for ResNet-20 at
	// batch 128). 0 sizes the groups from MemAvailable and the fp worker's
	// peak RSS. Configs beyond it run in later groups; fp and PyTorch run in
	// every round of every group, so each ratio pairs times from one round.
	MaxWorkers int
	Seed       uint64
	// Torch is a Python interpreter with torch (e.g. /usr/bin/python3); ""
	// skips PyTorch. PyTorch is timed at 1 and at TorchThreads threads
	// (default: the CPUs) and its faster median kept.
	Torch        string
	TorchThreads int
	Command      string // the command line written into the report
	// Worker starts a child process that serves one config with ServeTrain
	// on its stdin/stdout, so each config gets its own peak RSS. nil serves
	// every config in this process (peak RSS is then the process's).
	Worker func(TrainWorker) *exec.Cmd
	// OnProgress, if set, receives one line per phase.
	OnProgress func(msg string)
}

// TrainWorker is one configuration as a child process serves it.
type TrainWorker struct {
	Model, Recipe string
	Batch, Warmup int
	Seed          uint64
}

func (o *TrainOptions) defaults() {
	if len(o.Models) == 0 {
		o.Models = []string{"resnet20", "resnet18", "lenet5"}
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Steps <= 0 {
		o.Steps = 20
	}
	if o.Warmup <= 0 {
		o.Warmup = 3
	}
	if o.Budget <= 0 {
		o.Budget = 5 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.TorchThreads <= 0 {
		o.TorchThreads = runtime.NumCPU()
	}
}

func batchFor(model string, batch int) int {
	switch {
	case batch > 0:
		return batch
	case model == "lenet5" || model == "mlp":
		return 64
	case model == "resnet18":
		return 32
	}
	return 128
}

// RunTrain times a training step of every config, interleaving the configs
// (and PyTorch) within each round. Configs that fail are reported in their
// row, not as an error. It plans each model (start fp and PyTorch, group
// the other configs to fit memory), runs the rounds, then reports.
func RunTrain(o TrainOptions) (*TrainReport, error) {
	o.defaults()
	start := time.Now()
	t, err := newTrainRun(o)
	if err != nil {
		return nil, err
	}
	defer t.close()
	for _, model := range o.Models {
		t.planModel(model)
	}
	cost := map[string]modelCost{}
	for _, r := range t.runs {
		cost[r.model] = modelCost{round: r.estStepSecs, step: r.configStepSecs}
	}
	steps := planSteps(cost, o.Steps, o.Rounds, o.Budget)
	for _, run := range t.runs {
		for gi := range run.groups {
			t.runGroup(run, gi, steps[run.model])
		}
	}
	t.close()
	return t.report(start), nil
}

// trainRun is one RunTrain: its options, the report being filled, the
// PyTorch peer and every worker started.
type trainRun struct {
	o       TrainOptions
	rep     *TrainReport
	torch   *torchPeer // nil: PyTorch not run
	procs   []*trainProc
	runs    []*modelRun
	rounds  int       // rounds run so far, over all models and groups
	foreign []float64 // other processes' CPU share in each round
	cpuOK   bool      // some round's share was measured
}

// modelRun is one model's plan: fp and PyTorch start first and stay for
// all rounds; the other configs run in groups sized to the memory.
type modelRun struct {
	model       string
	fp          *trainProc
	torch       []*trainProc // one per thread setting
	others      []TrainWorker
	groups      [][]TrainWorker
	estStepSecs float64 // estimated seconds of one step of every sampled worker, all groups
	// configStepSecs is the fp worker's last warm-up step, the estimate of
	// one of our configs' step (0: fp did not start).
	configStepSecs float64
}

func newTrainRun(o TrainOptions) (*trainRun, error) {
	rep := &TrainReport{Machine: ThisMachine(), Command: o.Command, Rounds: o.Rounds, Budget: o.Budget,
		OpenBLAS: gemm.OpenBLAS != nil, InProcess: o.Worker == nil}
	rep.Backend = fmt.Sprintf("%s kernels, %d threads", gemm.Kernel(), gemm.Threads())
	if gemm.UsingOpenBLAS() {
		rep.Backend = "OpenBLAS cblas_sgemm, 1 thread (openblas_set_num_threads(1))"
	}
	t := &trainRun{o: o, rep: rep}
	rep.TorchNote = "PyTorch: not run (no -torch interpreter given)"
	if o.Torch != "" {
		var err error
		if t.torch, rep.TorchNote, err = newTorchPeer(o.Torch, o.TorchThreads); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// close stops every worker (once) and removes the PyTorch script.
func (t *trainRun) close() {
	for _, p := range t.procs {
		p.stop()
	}
	if t.torch != nil {
		t.torch.close()
	}
}

func (t *trainRun) progress(format string, args ...any) {
	if t.o.OnProgress != nil {
		t.o.OnProgress(fmt.Sprintf(format, args...))
	}
}

// launch starts one of our configs.
func (t *trainRun) launch(w TrainWorker) *trainProc {
	p := &trainProc{model: w.Model, config: w.Recipe, batch: w.Batch}
	t.procs = append(t.procs, p)
	t.progress("starting %s (batch %d)", p.name(), p.batch)
	var cmd *exec.Cmd
	if t.o.Worker != nil {
		cmd = t.o.Worker(w)
	}
	p.start(cmd, w)
	return p
}

// launchTorch starts PyTorch on model at each thread setting.
func (t *trainRun) launchTorch(model string, batch int) []*trainProc {
	var ps []*trainProc
	for _, n := range t.torch.threads {
		p := &trainProc{model: model, config: "pytorch", batch: batch, torch: true, threads: n}
		t.procs = append(t.procs, p)
		t.progress("starting %s (batch %d)", p.name(), p.batch)
		p.start(t.torch.command(model, batch, n, t.o.Warmup, t.o.Seed), TrainWorker{})
		ps = append(ps, p)
	}
	return ps
}

// planModel starts model's fp worker and PyTorch, and groups its other
// configs.
func (t *trainRun) planModel(model string) {
	o, rep := t.o, t.rep
	if known := models.Names(); !slices.Contains(known, model) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: not registered in this build (known models: %s); skipped, and timed once it is.", model, strings.Join(known, ", ")))
		return
	}
	batch := batchFor(model, o.Batch)
	if model == "lenet5" && batch == 64 {
		rep.targetBatch = true
	}
	cfgs := o.Recipes
	if len(cfgs) == 0 {
		cfgs = append([]string{"fp"}, recipes.Recipes()...)
	}
	run := &modelRun{model: model}
	t.runs = append(t.runs, run)
	for _, c := range fpFirst(cfgs) {
		w := TrainWorker{Model: model, Recipe: c, Batch: batch, Warmup: o.Warmup, Seed: o.Seed}
		if c == "fp" {
			run.fp = t.launch(w)
		} else {
			run.others = append(run.others, w)
		}
	}
	switch {
	case t.torch == nil:
	case !torchModels[model]:
		rep.Notes = append(rep.Notes, fmt.Sprintf("PyTorch has no %s in bench/torch_train.py; not compared.", model))
	default:
		run.torch = t.launchTorch(model, batch)
	}
	t.group(run)
}

// group splits run's other configs into groups that fit the memory and
// estimates the model's cost per step.
func (t *trainRun) group(run *modelRun) {
	size := groupSize(t.o, run.fp, len(run.others))
	for i := 0; i < len(run.others); i += size {
		run.groups = append(run.groups, run.others[i:min(i+size, len(run.others))])
	}
	if len(run.groups) == 0 {
		run.groups = [][]TrainWorker{nil} // fp and PyTorch alone
	}
	if len(run.groups) > 1 {
		also := ""
		if len(run.torch) > 0 {
			also = " and PyTorch"
		}
		t.rep.Notes = append(t.rep.Notes, fmt.Sprintf("%s: the %d configs besides fp ran in %d groups of at most %d workers (memory); fp%s ran in every round of every group.",
			run.model, len(run.others), len(run.groups), size, also))
	}
	// Unstarted configs are estimated at the slowest started step time.
	ref, refSum := 0.0, 0.0
	for _, p := range append([]*trainProc{run.fp}, run.torch...) {
		if p != nil && p.err == nil {
			ref = max(ref, p.warm)
			refSum += p.warm
		}
	}
	if run.fp != nil && run.fp.err == nil {
		run.configStepSecs = run.fp.warm
	}
	run.estStepSecs = ref*float64(len(run.others)) + refSum*float64(len(run.groups))
}

// runGroup starts group gi of run, times its rounds and stops it.
func (t *trainRun) runGroup(run *modelRun, gi, steps int) {
	var members []*trainProc
	for _, w := range run.groups[gi] {
		members = append(members, t.launch(w))
	}
	all := append(append([]*trainProc{}, run.torch...), members...)
	if run.fp != nil {
		all = append([]*trainProc{run.fp}, all...)
	}
	for _, p := range all {
		p.steps = steps
	}
	for r := range t.o.Rounds {
		if l, err := strconv.ParseFloat(LoadAvgNow(), 64); err == nil {
			t.rep.LoadMax = max(t.rep.LoadMax, l)
		}
		t.progress("%s: group %d/%d, round %d/%d (load %s)", run.model, gi+1, len(run.groups), r+1, t.o.Rounds, LoadAvgNow())
		t.round(all, r)
	}
	for _, p := range members {
		p.stop()
	}
}

// round samples every worker of a group once. They run back to back, so
// their ratios pair times taken close together; the order rotates each
// round so no config always follows the same one. Other processes' CPU
// during the round is counted for the report.
func (t *trainRun) round(all []*trainProc, r int) {
	var pids []int
	for _, p := range t.procs {
		if pid := p.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	c0 := benchproc.Read(pids...)
	for i := range all {
		p := all[(i+r)%len(all)]
		if p.err != nil {
			continue
		}
		p.freeze(false)
		p.sample(t.rounds)
		p.freeze(true)
		if p.torch {
			// Let PyTorch's OpenMP threads stop spinning before the next timing.
			time.Sleep(300 * time.Millisecond)
		}
	}
	if share, ok := benchproc.Foreign(c0, benchproc.Read(pids...)); ok {
		t.foreign = append(t.foreign, share)
		t.cpuOK = true
	}
	t.rounds++
}

// report fills in what the rounds measured.
func (t *trainRun) report(start time.Time) *TrainReport {
	rep := t.rep
	rep.LoadEnd = LoadAvgNow()
	rep.Rows = trainRows(t.procs, rep.InProcess)
	rep.ForeignMax = -1
	if t.cpuOK {
		rep.ForeignMax = slices.Max(t.foreign)
		rep.ForeignMedian = medianOf(t.foreign)
	}
	if t.torch != nil {
		var infos []*TorchInfo
		for _, p := range t.procs {
			if p.info != nil {
				infos = append(infos, p.info)
			}
		}
		rep.TorchNote = t.torch.note(infos)
	}
	rep.Elapsed = time.Since(start)
	return rep
}

// fpFirst puts "fp" first (the other configs' reference) and drops duplicates.
func fpFirst(cfgs []string) []string {
	out := []string{}
	if slices.Contains(cfgs, "fp") {
		out = append(out, "fp")
	}
	for _, c := range cfgs {
		if c != "fp" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// minRoundSecs is how long a config's timed steps of one round should last
// at least: a round's time is the mean of its steps, and a single short
// step is at the mercy of one scheduler tick or page fault (LeNet-5's ~20 ms
// step once ran 1 per round and its rounds spread from 12.8 to 21 ms).
const minRoundSecs = 0.3

// modelCost is what planSteps knows of a model.
type modelCost struct {
	round float64 // estimated seconds of one step of every sampled worker, all groups
	step  float64 // estimated seconds of one config's step (0: unknown)
}

// floorSteps is the fewest steps per round planSteps gives a model:
// enough for minRoundSecs of one config's steps, at most steps.
func floorSteps(c modelCost, steps int) int {
	if c.step <= 0 {
		return 1
	}
	return max(1, min(steps, int(math.Ceil(minRoundSecs/c.step))))
}

// planSteps gives each model its steps per round: steps, halved for the
// most expensive model until the estimated timed total fits the budget, but
// never below the model's floor (floorSteps). A cheap model therefore keeps
// rounds long enough to time even when an expensive one cannot fit the
// budget at one step (ResNet-18 with every recipe): halving the cheap one
// would cost its precision and save almost nothing.
func planSteps(cost map[string]modelCost, steps, rounds int, budget time.Duration) map[string]int {
	per, floor := map[string]int{}, map[string]int{}
	for m, c := range cost {
		per[m], floor[m] = steps, floorSteps(c, steps)
	}
	total := func() float64 {
		t := 0.0
		for m, c := range cost {
			t += c.round * float64(per[m]) * float64(rounds)
		}
		return t
	}
	for total() > budget.Seconds() {
		worst, wc := "", 0.0
		for m, c := range cost {
			w := c.round * float64(per[m])
			if per[m] > floor[m] && (worst == "" || w > wc || (w == wc && m < worst)) {
				worst, wc = m, w
			}
		}
		if worst == "" {
			break
		}
		per[worst] = max(per[worst]/2, floor[worst])
	}
	return per
}

func medianOf(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pairedRatio is the median over rounds of a[i]/b[i], so each ratio pairs
// times taken under the same load; rounds where b was not measured (NaN)
// are skipped.
func pairedRatio(a, b []float64) float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if !math.IsNaN(b[i]) && b[i] > 0 {
			r = append(r, a[i]/b[i])
		}
	}
	return medianOf(r)
}

// groupSize is how many configs besides fp a model runs at once: MaxWorkers,
// or what fits in 70% of MemAvailable at 1.25× the fp worker's peak RSS.
func groupSize(o TrainOptions, fp *trainProc, others int) int {
	if o.MaxWorkers > 0 {
		return o.MaxWorkers
	}
	if fp == nil || fp.err != nil || fp.pid() == 0 {
		return max(others, 1)
	}
	rss := procPeakRSS(fp.pid())
	avail := memAvailable()
	if rss <= 0 || avail <= 0 {
		return max(others, 1)
	}
	return max(1, min(others, int(0.7*float64(avail)/(1.25*float64(rss)))))
}
