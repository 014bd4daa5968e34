package bench

import (
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/internal/benchproc"
	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// GEMMShape is one GEMM of the kernel table: M output channels, N output
// pixels, K = Cin·KH·KW. GOPS count a multiply-add as 2 operations.
type GEMMShape struct{ M, N, K int }

func (s GEMMShape) String() string { return fmt.Sprintf("%d×%d×%d", s.M, s.N, s.K) }

func (s GEMMShape) ops() float64 { return 2 * float64(s.M) * float64(s.N) * float64(s.K) }

// ConvLayerShape is a 3×3, stride 1, pad 1 convolution of one H×W×Cin
// NHWC image into Cout channels.
type ConvLayerShape struct{ H, W, Cin, Cout int }

func (s ConvLayerShape) String() string {
	return fmt.Sprintf("%d×%d×%d→%d", s.H, s.W, s.Cin, s.Cout)
}

func (s ConvLayerShape) gemm() GEMMShape { return GEMMShape{s.Cout, s.H * s.W, 9 * s.Cin} }

// ResNet18Shapes are the 3×3 layer GEMMs of ResNet-18 at 224×224, batch 1.
var ResNet18Shapes = []GEMMShape{{64, 3136, 576}, {128, 784, 1152}, {256, 196, 2304}, {512, 49, 4608}}

// ResNet18Convs are the same layers as convolutions.
var ResNet18Convs = []ConvLayerShape{{56, 56, 64, 64}, {28, 28, 128, 128}, {14, 14, 256, 256}, {7, 7, 512, 512}}

// KernelOptions configures RunKernels. The zero value plus a Command runs
// the full benchmark.
type KernelOptions struct {
	Rounds int              // default 7
	Shapes []GEMMShape      // nil: ResNet18Shapes
	Convs  []ConvLayerShape // nil: ResNet18Convs
	// Networks are the recipes whose exported LeNet-5 is timed against its
	// graph forward; nil: xnor, bnn, dorefa-w1a2, lsq-w4a4. Empty (non-nil)
	// skips the table.
	Networks []string
	Batches  []int // network batch sizes; nil: 1 and 64
	// MinSample is the least time one timed sample takes: a fast kernel
	// repeats within the sample. Default 80ms.
	MinSample time.Duration
	// Reruns bounds how often a disturbed round of a group is re-run (see
	// benchproc.Watch); default 3, negative: never.
	Reruns int
	// OpenBLASRemoved lists the OpenBLAS variables (KEY=VALUE) the caller
	// removed from the environment before OpenBLAS loaded, for the report.
	OpenBLASRemoved []string
	Command         string
	OnProgress      func(msg string)
	probe           func() float64 // tests: replaces the disturbance probe
}

func (o *KernelOptions) defaults() {
	if o.Rounds <= 0 {
		o.Rounds = 7
	}
	if o.Shapes == nil {
		o.Shapes = ResNet18Shapes
	}
	if o.Convs == nil {
		o.Convs = ResNet18Convs
	}
	if o.Networks == nil {
		o.Networks = []string{"xnor", "bnn", "dorefa-w1a2", "lsq-w4a4"}
	}
	if o.Batches == nil {
		o.Batches = []int{1, 64}
	}
	if o.MinSample <= 0 {
		o.MinSample = 80 * time.Millisecond
	}
	if o.Reruns == 0 {
		o.Reruns = 3
	}
}

// timed is one kernel of an interleaved table.
type timed struct {
	group, name string
	ops         float64 // operations per call, for GOPS
	fn          func() error
	reps        int       // calls per sample
	secs        []float64 // seconds per call, one per round
	err         error
}

// calibrate runs each kernel once (warm-up) and picks calls per sample so
// a sample takes about minSample.
func calibrate(ks []*timed, minSample time.Duration) {
	for _, k := range ks {
		if k.err = k.fn(); k.err != nil {
			continue
		}
		t0 := time.Now()
		n := 0
		for time.Since(t0) < minSample/8 || n == 0 {
			if k.err = k.fn(); k.err != nil {
				break
			}
			n++
		}
		per := time.Since(t0).Seconds() / float64(n)
		k.reps = max(1, min(1_000_000, int(minSample.Seconds()/per+0.5)))
	}
}

// sample times one round of k.
func (k *timed) sample() {
	if k.err != nil {
		return
	}
	t0 := time.Now()
	for range k.reps {
		if k.err = k.fn(); k.err != nil {
			return
		}
	}
	k.secs = append(k.secs, time.Since(t0).Seconds()/float64(k.reps))
}

// KernelRow is one kernel on one shape.
type KernelRow struct {
	Group, Name string
	// Seconds per call over rounds: median, min, max.
	Median, Min, Max float64
	GOPS             float64 // at the median
	// Speedups: medians over rounds of t_ref/t_kernel (0 when not measured).
	Vs map[string]float64
	// PctCal is GOPS as a percentage of the matching POPCNT calibration
	// (0 when not meaningful).
	PctCal float64
	Err    string
}

// QuietStats summarises the disturbance checks of a run (see benchproc.Watch).
type QuietStats struct {
	MaxReruns   int           // re-runs allowed per round of a group
	MaxWait     time.Duration // longest wait for quiet before a re-run
	GroupRounds int           // rounds of groups kept (rounds × groups)
	Reruns      int           // rounds of groups re-run because they were disturbed
	Disturbed   int           // kept rounds still disturbed after MaxReruns re-runs
	// Over the kept rounds: highest CPU share of other processes (in CPUs,
	// -1 when /proc is unreadable) and lowest probe speed as a share of
	// its best.
	ForeignMax, ProbeMin float64
}

// KernelReport is the result of RunKernels.
type KernelReport struct {
	Machine           Machine
	Command           string
	Rounds            int
	MinSample         time.Duration
	MHz               float64
	OpenBLAS          bool
	Asm, VNNI         bool
	ScalarCal, AsmCal float64 // GOPS of the POPCNT calibrations (0: not run)
	ClockGHz          float64 // from a dependent IMUL chain
	GEMM, Conv, Net   []KernelRow
	NetNote           string
	LoadEnd           string
	LoadMax           float64 // highest 1-minute load at a round's start
	Elapsed           time.Duration
	Quiet             QuietStats
	GOMAXPROCS        int // at the run
	GEMMThreads       int // gemm.Threads() at the run
	// OpenBLASCore is the kernel OpenBLAS picked (openblas_get_corename; ""
	// without OpenBLAS). OpenBLASForced lists OPENBLAS_CORETYPE or
	// OPENBLAS_L2_SIZE still set in this process (OpenBLAS read them when
	// it loaded: not its native kernel); OpenBLASRemoved those the CLI
	// removed before re-running itself.
	OpenBLASCore                    string
	OpenBLASForced, OpenBLASRemoved []string
	shapes                          []GEMMShape
	convs                           []ConvLayerShape
	xnorAsm, xnorGo                 string // row names
	w1a2, int8, ob, sg              string
	gonumName                       string
	convBin, convBinZ               string
	convPack                        string
	convOB, convSG                  string
}

func rowsOf(ks []*timed, refs []string, cal func(*timed) float64) []KernelRow {
	var rows []KernelRow
	for _, k := range ks {
		r := KernelRow{Group: k.group, Name: k.name, Vs: map[string]float64{}}
		if k.err != nil {
			r.Err = k.err.Error()
		}
		if len(k.secs) > 0 {
			r.Median, r.Min, r.Max = medianOf(k.secs), slices.Min(k.secs), slices.Max(k.secs)
			r.GOPS = k.ops / r.Median / 1e9
			for _, ref := range refs {
				for _, o := range ks {
					if o.group == k.group && o.name == ref && len(o.secs) > 0 {
						r.Vs[ref] = pairedRatio(o.secs, k.secs)
					}
				}
			}
			if c := cal(k); c > 0 && k.ops > 0 {
				r.PctCal = 100 * r.GOPS / c
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// cpuMHz reads the first "cpu MHz" of /proc/cpuinfo (0 when unknown).
func cpuMHz() float64 {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu MHz") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return f
			}
		}
	}
	return 0
}

func randFloats(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

// popcntLoop XORs and popcounts a and b (L1-resident) reps times with four
// independent accumulators: the scalar POPCNT peak in binary MACs.
func popcntLoop(a, b *[512]uint64, reps int) int {
	var s0, s1, s2, s3 int
	for range reps {
		for i := 0; i < len(a); i += 4 {
			s0 += bits.OnesCount64(a[i] ^ b[i])
			s1 += bits.OnesCount64(a[i+1] ^ b[i+1])
			s2 += bits.OnesCount64(a[i+2] ^ b[i+2])
			s3 += bits.OnesCount64(a[i+3] ^ b[i+3])
		}
	}
	return s0 + s1 + s2 + s3
}

// clockMul is a variable so the compiler keeps a real IMUL.
var clockMul uint64 = 0x9E3779B97F4A7C15

// imulChain runs n dependent 64-bit multiplies. IMUL r64 has a 3-cycle
// latency on x86-64 cores since Core 2 and Zen, so the loop takes about 3n
// cycles: an in-process clock estimate (/proc/cpuinfo's MHz is often the
// nominal one in VMs).
func imulChain(n int) uint64 {
	x, m := uint64(n)|1, clockMul
	for range n {
		x *= m
	}
	return x
}

const clockIters = 1 << 20

var popcntSink int

// RunKernels times the packed kernels against float32 GEMM, interleaving
// all kernels of a shape within each round. It runs on the threads it is
// given: the CLI sets GOMAXPROCS 1 and gemm.SetThreads(1) for the issue's
// single-thread table (OpenBLAS runs at 1 thread in any case); the report
// records both.
func RunKernels(o KernelOptions) (*KernelReport, error) {
	o.defaults()
	start := time.Now()
	rep := newKernelReport(o)
	defer bitpack.UseAsm(bitpack.UsingAsm())()

	rng := rand.New(rand.NewPCG(3, 5))
	calA, calB := new([512]uint64), new([512]uint64)
	for i := range calA {
		calA[i], calB[i] = rng.Uint64(), rng.Uint64()
	}
	cal := calibrationKernels(rep, calA, calB, rng)
	var gk, ck []*timed
	for _, s := range o.Shapes {
		gk = append(gk, gemmKernels(rep, s, rng)...)
	}
	for _, s := range o.Convs {
		ck = append(ck, convKernels(rep, s, rng)...)
	}
	nk, note := networkKernels(o.Networks, o.Batches)
	rep.NetNote = note

	// The calibration runs in every round too, so it shares the kernels' load.
	all := append(append(append(append([]*timed{}, cal...), gk...), ck...), nk...)
	o.progress("warming up %d kernels", len(all))
	calibrate(all, o.MinSample)
	q := &benchproc.Watch{Probe: func() float64 {
		const reps = 256
		t0 := time.Now()
		popcntSink += popcntLoop(calA, calB, reps)
		return reps * 512 / time.Since(t0).Seconds()
	}}
	if o.probe != nil {
		q.Probe = o.probe
	}
	for range 4 {
		q.RunProbe()
	}
	rep.runRounds(o, groupsOf(all), q)
	rep.LoadEnd = LoadAvgNow()
	rep.setCalibration(cal)
	rep.setRows(gk, ck, nk)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func (o *KernelOptions) progress(format string, args ...any) {
	if o.OnProgress != nil {
		o.OnProgress(fmt.Sprintf(format, args...))
	}
}

// newKernelReport records the run's facts and names the rows.
func newKernelReport(o KernelOptions) *KernelReport {
	rep := &KernelReport{Machine: ThisMachine(), Command: o.Command, Rounds: o.Rounds, MinSample: o.MinSample,
		MHz: cpuMHz(), OpenBLAS: gemm.OpenBLAS != nil, Asm: bitpack.AsmAvailable(), VNNI: bitpack.VNNIAvailable(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), GEMMThreads: gemm.Threads(), OpenBLASRemoved: o.OpenBLASRemoved,
		shapes: o.Shapes, convs: o.Convs}
	if gemm.OpenBLASCore != nil {
		rep.OpenBLASCore = gemm.OpenBLASCore()
	}
	for _, k := range benchproc.OpenBLASForcing() {
		if v, ok := os.LookupEnv(k); ok {
			rep.OpenBLASForced = append(rep.OpenBLASForced, k+"="+v)
		}
	}
	asmName := func(asm bool, s string) string {
		if asm {
			return s + " (asm)"
		}
		return s + " (Go)"
	}
	rep.xnorAsm, rep.xnorGo = "W1A1 XNOR, AVX-512 VPOPCNTQ", "W1A1 XNOR, pure Go"
	rep.w1a2 = asmName(rep.Asm, "W1A2 bit-serial")
	rep.int8 = "int8 u8×s8, VNNI"
	if !rep.VNNI {
		rep.int8 = "int8 u8×s8 (Go)"
	}
	rep.sg = fmt.Sprintf("fp32 gemm.Sgemm (%s)", gemm.Kernel())
	rep.gonumName = "fp32 gonum Sgemm"
	rep.ob = "fp32 OpenBLAS sgemm"
	return rep
}

// calibrationKernels are the scalar POPCNT loop, the IMUL clock chain and,
// where available, the VPOPCNTQ XNOR kernel on L1-resident data.
func calibrationKernels(rep *KernelReport, calA, calB *[512]uint64, rng *rand.Rand) []*timed {
	cal := []*timed{{group: "cal", name: "scalar", ops: 2 * 64 * 512 * 64, fn: func() error {
		popcntSink += popcntLoop(calA, calB, 64)
		return nil
	}}, {group: "cal", name: "clock", ops: 3 * clockIters, fn: func() error {
		popcntSink += int(imulChain(clockIters) & 1)
		return nil
	}}}
	if rep.Asm {
		const rows, n, k = 32, 32, 2048 // 8 KiB + 8 KiB + 4 KiB: in L1
		a, _ := bitpack.PackMatrix(randFloats(rng, rows*k), rows, k)
		wm, _ := bitpack.PackMatrix(randFloats(rng, n*k), n, k)
		w := bitpack.PackPanels(wm)
		out := make([]int32, rows*n)
		cal = append(cal, &timed{group: "cal", name: "vpopcntq", ops: 2 * rows * n * k, fn: func() error {
			defer bitpack.UseAsm(true)()
			return bitpack.GEMM(out, a, w)
		}})
	}
	return cal
}

// runRounds times every group in every round, re-running a round of a
// group that q finds disturbed (see benchproc.Watch).
func (rep *KernelReport) runRounds(o KernelOptions, groups [][]*timed, q *benchproc.Watch) {
	maxReruns := max(0, o.Reruns)
	maxWait := max(10*time.Millisecond, min(3*time.Second, 30*o.MinSample))
	for r := range o.Rounds {
		if l, err := strconv.ParseFloat(LoadAvgNow(), 64); err == nil {
			rep.LoadMax = max(rep.LoadMax, l)
		}
		o.progress("round %d/%d (load %s)", r+1, o.Rounds, LoadAvgNow())
		for _, g := range groups {
			// At most maxReruns per round of a group, and on a machine that
			// never quietens no more than one per round of a group on average.
			budget := len(groups) * o.Rounds
			for try := 0; ; try++ {
				n0 := make([]int, len(g))
				for i, k := range g {
					n0[i] = len(k.secs)
				}
				foreign, probe, disturbed := sampleGroup(g, r, q)
				if !disturbed || try >= maxReruns || q.Reruns >= budget {
					q.Kept(foreign, probe, disturbed)
					break
				}
				// Drop the round for every kernel of the group (the rounds
				// stay paired) and take it again once the machine is quiet.
				for i, k := range g {
					k.secs = k.secs[:n0[i]]
				}
				q.Reruns++
				o.progress("%s: round %d disturbed (other processes %.2f CPU, probe %.0f%% of best); re-running", g[0].group, r+1, foreign, 100*probe)
				q.Settle(maxWait)
			}
		}
	}
	rep.Quiet = QuietStats{MaxReruns: maxReruns, MaxWait: maxWait, GroupRounds: q.Rounds, Reruns: q.Reruns, Disturbed: q.Disturbed,
		ForeignMax: q.ForeignMax, ProbeMin: q.ProbeMin}
	if !q.CPUKnown {
		rep.Quiet.ForeignMax = -1
	}
}

// sampleGroup times round r of a group under q's watch, rotating the
// order within the group every round.
func sampleGroup(g []*timed, r int, q *benchproc.Watch) (foreign, probe float64, disturbed bool) {
	m := q.Start()
	for i := range g {
		g[(i+r)%len(g)].sample()
	}
	return q.End(m)
}

// setCalibration turns the calibration kernels' medians into GOPS.
func (rep *KernelReport) setCalibration(cal []*timed) {
	if len(cal[0].secs) > 0 {
		rep.ScalarCal = cal[0].ops / medianOf(cal[0].secs) / 1e9
	}
	if len(cal[1].secs) > 0 {
		rep.ClockGHz = cal[1].ops / medianOf(cal[1].secs) / 1e9
	}
	if len(cal) > 2 && len(cal[2].secs) > 0 {
		rep.AsmCal = cal[2].ops / medianOf(cal[2].secs) / 1e9
	}
}

// setRows makes the three tables.
func (rep *KernelReport) setRows(gk, ck, nk []*timed) {
	refs := []string{rep.ob, rep.sg, rep.gonumName, rep.xnorAsm, rep.xnorGo}
	rep.GEMM = rowsOf(gk, refs, func(k *timed) float64 {
		switch k.name {
		case rep.xnorAsm:
			return rep.AsmCal
		case rep.w1a2:
			if rep.Asm {
				return rep.AsmCal
			}
			return rep.ScalarCal
		case rep.xnorGo:
			return rep.ScalarCal
		}
		return 0
	})
	rep.Conv = rowsOf(ck, []string{rep.convOB, rep.convSG}, func(*timed) float64 { return 0 })
	rep.Net = rowsOf(nk, []string{"graph forward"}, func(*timed) float64 { return 0 })
}

func groupsOf(ks []*timed) [][]*timed {
	var out [][]*timed
	for i, k := range ks {
		if i == 0 || k.group != ks[i-1].group {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], k)
	}
	return out
}

func gemmKernels(rep *KernelReport, s GEMMShape, rng *rand.Rand) []*timed {
	g := s.String()
	// Packed operands: rows of a are the N pixels, panels of w the M channels.
	a, _ := bitpack.PackMatrix(randFloats(rng, s.N*s.K), s.N, s.K)
	wm, _ := bitpack.PackMatrix(randFloats(rng, s.M*s.K), s.M, s.K)
	w := bitpack.PackPanels(wm)
	qx, qw := make([]uint8, s.N*s.K), make([]uint8, s.M*s.K)
	for i := range qx {
		qx[i] = uint8(rng.IntN(4))
	}
	for i := range qw {
		qw[i] = uint8(rng.IntN(2))
	}
	x2, _ := bitpack.PackPlanes(qx, s.N, s.K, 2)
	w1, _ := bitpack.PackPlanePanels(qw, s.M, s.K, 1, bitpack.Binary)
	u8, s8 := make([]uint8, s.N*s.K), make([]int8, s.M*s.K)
	for i := range u8 {
		u8[i] = uint8(rng.IntN(256))
	}
	for i := range s8 {
		s8[i] = int8(rng.IntN(256) - 128)
	}
	pu8, _ := bitpack.PackU8(u8, s.N, s.K)
	ps8, _ := bitpack.PackS8Panels(s8, s.M, s.K)
	out := make([]int32, s.M*s.N)
	// fp32: C[M×N] = A[M×K]·B[K×N], no transposes.
	fa, fb, fc := randFloats(rng, s.M*s.K), randFloats(rng, s.K*s.N), make([]float32, s.M*s.N)

	var ks []*timed
	add := func(name string, fn func() error) {
		ks = append(ks, &timed{group: g, name: name, ops: s.ops(), fn: fn})
	}
	if rep.Asm {
		add(rep.xnorAsm, func() error { defer bitpack.UseAsm(true)(); return bitpack.GEMM(out, a, w) })
	}
	add(rep.xnorGo, func() error { defer bitpack.UseAsm(false)(); return bitpack.GEMM(out, a, w) })
	add(rep.w1a2, func() error { defer bitpack.UseAsm(true)(); return bitpack.BitSerialGEMM(out, x2, w1) })
	add(rep.int8, func() error { defer bitpack.UseAsm(true)(); return bitpack.GEMMU8S8(out, pu8, ps8) })
	add(rep.sg, func() error {
		restore, _ := gemm.UseOpenBLAS(false)
		defer restore()
		return gemm.Sgemm(false, false, s.M, s.N, s.K, 1, fa, s.K, fb, s.N, 0, fc, s.N)
	})
	add(rep.gonumName, func() error {
		blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, s.M, s.N, s.K, 1, fa, s.K, fb, s.N, 0, fc, s.N)
		return nil
	})
	if rep.OpenBLAS {
		add(rep.ob, func() error {
			gemm.OpenBLAS(false, false, s.M, s.N, s.K, 1, fa, s.K, fb, s.N, 0, fc, s.N)
			return nil
		})
	}
	return ks
}

func randBN(rng *rand.Rand, n, k int) bitpack.BNParams {
	p := bitpack.BNParams{Eps: 1e-5}
	for range n {
		p.Gamma = append(p.Gamma, rng.Float32()+0.5)
		p.Beta = append(p.Beta, rng.Float32()-0.5)
		p.Mean = append(p.Mean, float32(rng.NormFloat64()*float64(k)/16))
		p.Var = append(p.Var, float32(k)*(rng.Float32()+0.5))
	}
	return p
}

func convKernels(rep *KernelReport, s ConvLayerShape, rng *rand.Rand) []*timed {
	g := s.String()
	k := 9 * s.Cin
	x := randFloats(rng, s.H*s.W*s.Cin)
	wf := randFloats(rng, s.Cout*k)
	in, _ := bitpack.PackNHWC(x, 1, s.H, s.W, s.Cin)
	cw, _ := bitpack.PackConvWeights(wf, s.Cout, 3, 3, s.Cin)
	th, _ := bitpack.FoldBN(randBN(rng, s.Cout, k))
	out1, out0, outP := bitpack.NewMap(1, s.H, s.W, s.Cout), bitpack.NewMap(1, s.H, s.W, s.Cout), bitpack.NewMap(1, s.H, s.W, s.Cout)
	conv1 := &bitpack.Conv{Weights: cw, PadH: 1, PadW: 1, Pad: bitpack.PadOne}
	conv0 := &bitpack.Conv{Weights: cw, PadH: 1, PadW: 1, Pad: bitpack.PadZero}
	convP := &bitpack.Conv{Weights: cw, PadH: 1, PadW: 1, Pad: bitpack.PadOne}
	cs := gemm.ConvShape{N: 1, H: s.H, W: s.W, C: s.Cin, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	col, y := make([]float32, cs.ColLen()), make([]float32, s.H*s.W*s.Cout)
	m := s.H * s.W

	rep.convBin = "binary, +1 padding"
	rep.convBinZ = "binary, 0 padding + edge correction"
	rep.convPack = "binary, +1 padding, packing the float input too"
	rep.convSG = "fp32 im2col + gemm.Sgemm"
	rep.convOB = "fp32 im2col + OpenBLAS"
	var ks []*timed
	add := func(name string, fn func() error) {
		ks = append(ks, &timed{group: g, name: name, ops: s.gemm().ops(), fn: fn})
	}
	asm := func(f func() error) func() error {
		return func() error { defer bitpack.UseAsm(true)(); return f() }
	}
	add(rep.convBin, asm(func() error { return conv1.ForwardSign(out1, in, th) }))
	add(rep.convBinZ, asm(func() error { return conv0.ForwardSign(out0, in, th) }))
	add(rep.convPack, asm(func() error {
		pin, err := bitpack.PackNHWC(x, 1, s.H, s.W, s.Cin)
		if err != nil {
			return err
		}
		return convP.ForwardSign(outP, pin, th)
	}))
	add(rep.convSG, func() error {
		restore, _ := gemm.UseOpenBLAS(false)
		defer restore()
		gemm.Im2col(cs, x, col)
		return gemm.Sgemm(false, true, m, s.Cout, k, 1, col, k, wf, k, 0, y, s.Cout)
	})
	if rep.OpenBLAS {
		add(rep.convOB, func() error {
			gemm.Im2col(cs, x, col)
			gemm.OpenBLAS(false, true, m, s.Cout, k, 1, col, k, wf, k, 0, y, s.Cout)
			return nil
		})
	}
	return ks
}

// networkKernels times each recipe's exported LeNet-5 (initial weights; the
// speed does not depend on training) against its graph eval forward.
func networkKernels(names []string, batches []int) ([]*timed, string) {
	if len(names) == 0 {
		return nil, "skipped (no recipes asked for)"
	}
	var ks []*timed
	var failed []string
	maxB := slices.Max(batches)
	rng := rand.New(rand.NewPCG(7, 7))
	for _, name := range names {
		r, err := recipes.Lookup(name)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		m, err := models.New(r.Config("lenet5", "mnist").Model)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		per := 1
		for _, d := range m.Spec.Input {
			per *= d
		}
		x := make([]float32, maxB*per)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		y := make([]int32, maxB)
		// One eval batch sets data-initialised parameters (LSQ steps).
		net, err := recipes.NewNet(m, maxB, false, nil)
		if err == nil {
			err = net.Run(x, y, maxB)
			net.Close()
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: graph: %v", name, err))
			continue
		}
		bm, err := export.Freeze(m)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: export.Freeze: %v", name, err))
			continue
		}
		for _, n := range batches {
			xs, ys := x[:n*per], y[:n]
			g := fmt.Sprintf("%s, batch %d", name, n)
			gn, err := recipes.NewNet(m, n, false, nil)
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", g, err))
				continue
			}
			ks = append(ks,
				&timed{group: g, name: "packed engine", ops: float64(n), fn: func() error { _, err := bm.Predict(xs, n); return err }},
				&timed{group: g, name: "graph forward", ops: float64(n), fn: func() error { return gn.Run(xs, ys, n) }})
		}
	}
	note := ""
	if len(failed) > 0 {
		note = "not timed: " + strings.Join(failed, "; ")
	}
	return ks, note
}

// Target lines of issue 5, evaluated on this report. The float32
// reference is, on each shape, the faster of OpenBLAS (on its native
// kernel) and our gemm.Sgemm.
func (r *KernelReport) Targets() []Target {
	var gs, cs []string
	for _, s := range r.shapes {
		gs = append(gs, s.String())
	}
	for _, s := range r.convs {
		cs = append(cs, s.String())
	}
	gemmRefs, convRefs := []string{r.sg}, []string{r.convSG}
	if r.OpenBLAS {
		gemmRefs, convRefs = []string{r.ob, r.sg}, []string{r.convOB, r.convSG}
	}
	at := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	ts := []Target{
		r.check("AVX-512 W1A1 ≥ 12× the faster fp32 GEMM (OpenBLAS, our sgemm) on every shape (goal 18×)", r.GEMM, gs, r.xnorAsm, gemmRefs,
			at(12), "no AVX-512 VPOPCNTDQ, or LOWBIT_NOASM=1"),
		r.check("pure-Go W1A1 ≥ 2.5× the faster fp32 GEMM on every shape", r.GEMM, gs, r.xnorGo, gemmRefs, at(2.5), "not measured"),
		r.check("binary conv layer (pack + GEMM + fused threshold, +1 padding) ≥ 8× the faster fp32 im2col conv", r.Conv, cs, r.convBin, convRefs,
			at(8), "not measured"),
		r.check("binary conv layer with 0 padding + edge correction ≥ 8× the faster fp32 im2col conv", r.Conv, cs, r.convBinZ, convRefs,
			at(8), "not measured"),
		r.bitSerialTarget(gs),
		r.check("int8 VNNI ≥ 2× the faster fp32 GEMM", r.GEMM, gs, r.int8, gemmRefs, at(2), "not measured"),
	}
	if !r.VNNI {
		ts[len(ts)-1].Verdict = "n/a (no AVX-512 VNNI, or LOWBIT_NOASM=1: Go fallback timed)"
	}
	return ts
}

// findRow returns the measured row of group and name, or nil.
func findRow(rows []KernelRow, group, name string) *KernelRow {
	for i := range rows {
		if rows[i].Group == group && rows[i].Name == name && rows[i].Median > 0 {
			return &rows[i]
		}
	}
	return nil
}

// fastest returns, of refs, the name with the lowest median in group ("" if none measured).
func fastest(rows []KernelRow, group string, refs []string) string {
	best, t := "", 0.0
	for _, ref := range refs {
		if row := findRow(rows, group, ref); row != nil && (best == "" || row.Median < t) {
			best, t = ref, row.Median
		}
	}
	return best
}

// check is the target that name's speedup over the fastest of refs is ok
// on every group; n/a (why) when never measured, and n/a when OpenBLAS is
// not in the build (our sgemm alone is not the target's reference).
func (r *KernelReport) check(text string, rows []KernelRow, groups []string, name string, refs []string, ok func(float64) bool, why string) Target {
	var parts []string
	pass, measured := true, false
	for _, g := range groups {
		ref := fastest(rows, g, refs)
		row := findRow(rows, g, name)
		if row == nil || ref == "" || row.Vs[ref] == 0 {
			parts = append(parts, g+" —")
			pass = false
			continue
		}
		measured = true
		parts = append(parts, fmt.Sprintf("%s %.1f× (vs %s)", g, row.Vs[ref], shortRef(ref)))
		pass = pass && ok(row.Vs[ref])
	}
	switch {
	case !measured:
		return Target{text, "n/a (" + why + ")"}
	case !r.OpenBLAS:
		return Target{text + ": " + strings.Join(parts, ", ") + " — OpenBLAS absent (build with -tags openblas); shown against our gemm.Sgemm alone, not the target", "n/a"}
	case len(r.OpenBLASForced) > 0:
		return Target{text + ": " + strings.Join(parts, ", ") + " — OpenBLAS was not on its native kernel (" + strings.Join(r.OpenBLASForced, ", ") + ")", "n/a"}
	}
	return Target{text + ": " + strings.Join(parts, ", "), verdict(pass)}
}

// bitSerialTarget: W1A2 time over the W1A1 time of the same dispatch (asm
// or pure Go).
func (r *KernelReport) bitSerialTarget(gs []string) Target {
	xref := r.xnorAsm
	if !r.Asm {
		xref = r.xnorGo
	}
	var parts []string
	pass, measured := true, false
	for _, g := range gs {
		row := findRow(r.GEMM, g, r.w1a2)
		if row == nil || row.Vs[xref] == 0 {
			parts = append(parts, g+" —")
			pass = false
			continue
		}
		ratio := 1 / row.Vs[xref]
		measured = true
		parts = append(parts, fmt.Sprintf("%s %.2f×", g, ratio))
		pass = pass && ratio <= 2.3
	}
	text := fmt.Sprintf("W1A2 bit-serial ≤ 2.3× the W1A1 time (%s)", xref)
	if !measured {
		return Target{text, "n/a (not measured)"}
	}
	return Target{text + ": " + strings.Join(parts, ", "), verdict(pass)}
}

func fmtGOPS(x float64) string {
	switch {
	case x == 0:
		return "—"
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func fmtX(x float64) string {
	if x == 0 {
		return "—"
	}
	if x >= 10 {
		return strconv.FormatFloat(x, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

func fmtTime(s float64) string {
	switch {
	case s == 0:
		return "—"
	case s < 1e-3:
		return strconv.FormatFloat(s*1e6, 'f', 1, 64) + " µs"
	}
	return strconv.FormatFloat(s*1e3, 'f', 2, 64) + " ms"
}

// WriteMarkdown writes the report: header, run facts, the three tables and
// the targets.
func (r *KernelReport) WriteMarkdown(w io.Writer) {
	WriteHeader(w, "Packed kernels against float32 GEMM", r.Command, r.Machine)
	r.writeRun(w)
	r.writeCalibration(w)
	r.writeGEMM(w)
	r.writeConv(w)
	r.writeNet(w)
	fmt.Fprintf(w, "\n## Targets (issue 5)\n\n")
	for _, t := range r.Targets() {
		fmt.Fprintf(w, "- **%s** — %s\n", t.Verdict, t.Text)
	}
}

// openBLASCell is the report's OpenBLAS line.
func (r *KernelReport) openBLASCell() string {
	if !r.OpenBLAS {
		return "not in this build (-tags openblas)"
	}
	cell := fmt.Sprintf("cblas_sgemm at 1 thread, kernel %s (openblas_get_corename)", r.OpenBLASCore)
	switch {
	case len(r.OpenBLASForced) > 0:
		cell += "; forced by " + strings.Join(r.OpenBLASForced, ", ") + ": not its native kernel"
	case len(r.OpenBLASRemoved) > 0:
		cell += "; native: " + strings.Join(r.OpenBLASRemoved, ", ") + " removed from the environment before it loaded (re-run)"
	default:
		cell += "; native (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)"
	}
	return cell
}

func (r *KernelReport) writeRun(w io.Writer) {
	build := "default (pure Go, no cgo): OpenBLAS: build with -tags openblas"
	if r.OpenBLAS {
		build = "-tags openblas (cgo)"
	}
	fmt.Fprintf(w, "| run | |\n|---|---|\n")
	fmt.Fprintf(w, "| build | %s |\n", build)
	fmt.Fprintf(w, "| threads | GOMAXPROCS %d, gemm threads %d, OpenBLAS 1 thread |\n", r.GOMAXPROCS, r.GEMMThreads)
	fmt.Fprintf(w, "| OpenBLAS | %s |\n", r.openBLASCell())
	fmt.Fprintf(w, "| kernels | binary asm (AVX-512 VPOPCNTDQ): %v, int8 VNNI: %v, gemm.Sgemm micro-kernel: %s |\n", r.Asm, r.VNNI, gemm.Kernel())
	fmt.Fprintf(w, "| clock | ≈ %.2f GHz measured in-process (dependent IMUL chain, 3-cycle latency); /proc/cpuinfo says %.0f MHz |\n", r.ClockGHz, r.MHz)
	fmt.Fprintf(w, "| rounds | %d, kernels of a shape interleaved (order rotated each round); a sample repeats a call for ≥ %v |\n", r.Rounds, r.MinSample)
	fmt.Fprintf(w, "| load average | start %s, highest at a round's start %.2f, end %s |\n", r.Machine.LoadAvg, r.LoadMax, r.LoadEnd)
	fmt.Fprintf(w, "| quiet check | %s |\n", r.Quiet.describe())
	fmt.Fprintf(w, "| elapsed | %s |\n\n", r.Elapsed.Round(time.Second))
	if r.GOMAXPROCS != 1 || r.GEMMThreads != 1 {
		fmt.Fprintf(w, "**Not single-threaded (GOMAXPROCS %d, gemm threads %d): the kernels may use more than one core while OpenBLAS uses one.**\n\n", r.GOMAXPROCS, r.GEMMThreads)
	}
	if warn := loadWarning(r.LoadMax); warn != "" {
		fmt.Fprintf(w, "**%s**\n\n", warn)
	}
	if r.Quiet.Disturbed > 0 {
		verb := "were"
		if r.Quiet.Disturbed == 1 {
			verb = "was"
		}
		fmt.Fprintf(w, "**%d of %d rounds of a group %s still disturbed after up to %s and included. Rerun on a quiet machine for numbers to quote.**\n\n",
			r.Quiet.Disturbed, r.Quiet.GroupRounds, verb, plural(r.Quiet.MaxReruns, "re-run"))
	}
}

func (r *KernelReport) writeCalibration(w io.Writer) {
	macs := func(gops float64) string {
		if r.ClockGHz == 0 || gops == 0 {
			return ""
		}
		return fmt.Sprintf(" ≈ %.0f binary MACs/cycle", gops/2/r.ClockGHz)
	}
	fmt.Fprintf(w, "## POPCNT calibration (L1-resident, interleaved like the kernels)\n\n")
	fmt.Fprintf(w, "- scalar `bits.OnesCount64` loop (xor + popcnt + add, 4 accumulators): %s GOPS%s\n", fmtGOPS(r.ScalarCal), macs(r.ScalarCal))
	if r.AsmCal > 0 {
		fmt.Fprintf(w, "- VPOPCNTQ XNOR kernel, 32×32×2048 GEMM: %s GOPS%s\n", fmtGOPS(r.AsmCal), macs(r.AsmCal))
	} else {
		fmt.Fprintf(w, "- VPOPCNTQ: not available on this CPU or disabled (LOWBIT_NOASM=1)\n")
	}
	fmt.Fprintf(w, "\nGOPS = 2·M·N·K / time. \"%% cal\" is a binary kernel's GOPS as a share of the matching calibration (asm: VPOPCNTQ, pure Go: scalar).\n\n")
}

func (r *KernelReport) writeGEMM(w io.Writer) {
	refCols := []string{r.ob, r.sg, r.gonumName}
	if !r.OpenBLAS {
		refCols = refCols[1:]
	}
	fmt.Fprintf(w, "## GEMM (M×N×K: Cout × pixels × Cin·9), single thread\n\n")
	fmt.Fprintf(w, "| shape | kernel | median | min | max | GOPS |")
	for _, c := range refCols {
		fmt.Fprintf(w, " × %s |", shortRef(c))
	}
	fmt.Fprintf(w, " %% cal |\n|---|---|---:|---:|---:|---:|%s---:|\n", strings.Repeat("---:|", len(refCols)))
	for _, row := range r.GEMM {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |", row.Group, rowName(row), fmtTime(row.Median), fmtTime(row.Min), fmtTime(row.Max), fmtGOPS(row.GOPS))
		for _, c := range refCols {
			fmt.Fprintf(w, " %s |", fmtX(row.Vs[c]))
		}
		pct := "—"
		if row.PctCal > 0 {
			pct = strconv.FormatFloat(row.PctCal, 'f', 0, 64) + "%"
		}
		fmt.Fprintf(w, " %s |\n", pct)
	}
	fmt.Fprintf(w, "\n× columns: speedup over that kernel (median over rounds of t_ref / t_kernel).\n\n")
}

func (r *KernelReport) writeConv(w io.Writer) {
	fmt.Fprintf(w, "## Full 3×3 conv layer (NHWC, batch 1, stride 1, pad 1), single thread\n\n")
	fmt.Fprintf(w, "Binary: `bitpack.Conv.ForwardSign` on a packed input (bit-im2col + XNOR GEMM + BN folded into thresholds, writing packed bits). Float: `gemm.Im2col` + sgemm into NHWC.\n\n")
	convRefs := []string{r.convOB, r.convSG}
	if !r.OpenBLAS {
		convRefs = convRefs[1:]
	}
	fmt.Fprintf(w, "| layer | implementation | median | min | max | GOPS |")
	for _, c := range convRefs {
		fmt.Fprintf(w, " × %s |", c)
	}
	fmt.Fprintf(w, "\n|---|---|---:|---:|---:|---:|%s\n", strings.Repeat("---:|", len(convRefs)))
	for _, row := range r.Conv {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |", row.Group, rowName(row), fmtTime(row.Median), fmtTime(row.Min), fmtTime(row.Max), fmtGOPS(row.GOPS))
		for _, c := range convRefs {
			fmt.Fprintf(w, " %s |", fmtX(row.Vs[c]))
		}
		fmt.Fprintln(w)
	}
}

func (r *KernelReport) writeNet(w io.Writer) {
	fmt.Fprintf(w, "\n## Whole network: exported LeNet-5 (packed engine) against its graph forward, single thread\n\n")
	if len(r.Net) == 0 {
		fmt.Fprintf(w, "Not timed: %s\n", r.NetNote)
		return
	}
	fmt.Fprintf(w, "`export.Freeze` of the recipe's LeNet-5 (initial weights; speed does not depend on training), `Predict` against `recipes.NewNet(m, n, false, nil).Run` (eval graph; gemm.Sgemm %s).\n\n", sgemmPath(r.OpenBLAS))
	fmt.Fprintf(w, "| recipe, batch | path | median per batch | min | max | images/s | × graph |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Net {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Group, rowName(row), fmtTime(row.Median), fmtTime(row.Min), fmtTime(row.Max),
			fmtGOPS(row.GOPS*1e9), fmtX(row.Vs["graph forward"]))
	}
	if r.NetNote != "" {
		fmt.Fprintf(w, "\n%s\n", r.NetNote)
	}
}

func sgemmPath(openblas bool) string {
	if openblas && gemm.UsingOpenBLAS() {
		return "routed to OpenBLAS"
	}
	return "on our kernels"
}

func rowName(r KernelRow) string {
	if r.Err != "" {
		return r.Name + " (failed: " + strings.ReplaceAll(r.Err, "|", "/") + ")"
	}
	return r.Name
}

func shortRef(name string) string {
	switch {
	case strings.Contains(name, "OpenBLAS"):
		return "OpenBLAS"
	case strings.Contains(name, "gonum"):
		return "gonum"
	case strings.Contains(name, "gemm.Sgemm"):
		return "our sgemm"
	}
	return name
}
