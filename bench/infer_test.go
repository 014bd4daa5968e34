package bench

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/benchproc"
	"github.com/lowbit/lowbit/internal/datatest"
)

func TestParseInferModels(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
		err  bool
	}{
		{nil, "", false},
		{[]string{"resnet20"}, "resnet20/xnor resnet20/fp", false},
		{[]string{"resnet18/xnor", "resnet18/xnor"}, "resnet18/xnor", false},
		{[]string{"birealnet18", "resnet20/fp"}, "birealnet18/xnor resnet20/fp", false},
		{[]string{"vgg16"}, "", true},
		{[]string{"resnet18/"}, "", true},
		{[]string{"/xnor"}, "", true},
	} {
		got, err := ParseInferModels(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.err)
			continue
		}
		var s []string
		for _, m := range got {
			s = append(s, m.String())
		}
		if strings.Join(s, " ") != c.want {
			t.Errorf("%q: got %q, want %q", c.in, s, c.want)
		}
	}
}

// fakeInferReport is a 2-core report with the given speed-ups over the
// peers and all-cores/1-thread ratios.
func fakeInferReport(xnorFloat1, xnorInt8All, scaleB1, scaleB32, conv float64, foreign float64) *InferReport {
	r := &InferReport{Threads: 2, Batch: 32, ForeignMax: foreign}
	add := func(model, recipe string, th, b int, vf, vi, v1 float64) {
		r.Rows = append(r.Rows, InferRow{Model: model, Recipe: recipe, Threads: th, Batch: b, Rounds: 3, Median: 0.01, Min: 0.009,
			VsFloat: vf, VsInt8: vi, VsOneThread: v1})
	}
	add("resnet18", "xnor", 1, 1, xnorFloat1, 2.5, 0)
	add("resnet18", "xnor", 2, 1, 5, xnorInt8All, scaleB1)
	add("resnet18", "xnor", 2, 32, 5, 2, scaleB32)
	add("resnet20", "fp", 2, 1, 0, 0, 0.6)
	add("resnet18", "fp", 1, 1, 0.4, 0.1, 0)
	r.Floats = []FloatLayer{{Layer: "conv1", Engine: 0.002, Torch: 0.001, Ratio: conv}, {Layer: "fc", Engine: 0.00002, Torch: 0.00003, Ratio: 0.7}}
	return r
}

func targetVerdict(t *testing.T, r *InferReport, prefix string) InferTarget {
	t.Helper()
	for _, x := range r.Targets() {
		if strings.HasPrefix(x.Text, prefix) {
			return x
		}
	}
	t.Fatalf("no target starting %q", prefix)
	return InferTarget{}
}

func TestInferTargets(t *testing.T) {
	quiet, busy := 0.05, benchproc.ForeignLimit+0.5
	for _, c := range []struct {
		name    string
		r       *InferReport
		target  string
		verdict string
		measure string
	}{
		{"xnor float pass", fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet), "resnet18 xnor, batch 1, 1 thread: ≥ 8.0× PyTorch float", "PASS", "8.50×"},
		{"xnor float fail", fakeInferReport(2.6, 2, 0.5, 0.55, 0.9, quiet), "resnet18 xnor, batch 1, 1 thread: ≥ 8.0× PyTorch float", "FAIL", "2.60×"},
		{"xnor float busy", fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, busy), "resnet18 xnor, batch 1, 1 thread: ≥ 8.0× PyTorch float", "busy", "8.50×"},
		{"fail stays fail when busy", fakeInferReport(2.6, 2, 0.5, 0.55, 0.9, busy), "resnet18 xnor, batch 1, 1 thread: ≥ 8.0× PyTorch float", "FAIL", "2.60×"},
		{"xnor int8 all cores fail", fakeInferReport(8.5, 1.2, 0.5, 0.55, 0.9, quiet), "resnet18 xnor, batch 1, all cores (2): ≥ 1.5× PyTorch int8", "FAIL", "1.20×"},
		{"bireal not measured", fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet), "birealnet18 xnor, batch 1, 1 thread: ≥ 6.0×", "n/a (not measured)", "—"},
		{"scaling pass", fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet), "more threads never slower", "PASS", "resnet18/xnor 0.50, resnet20/fp 0.60"},
		{"scaling one fails", fakeInferReport(8.5, 2, 0.9, 0.55, 0.9, quiet), "more threads never slower", "FAIL", "1 of 2 miss"},
		{"linear pass", fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet), "batch-32 throughput", "PASS", "resnet18/xnor 0.91"},
		{"linear fail", fakeInferReport(8.5, 2, 0.5, 0.7, 0.9, quiet), "batch-32 throughput", "FAIL", "resnet18/xnor 0.71"},
		{"conv1 fail", fakeInferReport(8.5, 2, 0.5, 0.55, 1.49, quiet), "float layers no slower than PyTorch: first conv", "FAIL", "1.49×"},
		{"classifier pass", fakeInferReport(8.5, 2, 0.5, 0.55, 1.49, quiet), "float layers no slower than PyTorch: classifier", "PASS", "0.70×"},
		{"fp whole fail", fakeInferReport(8.5, 2, 0.5, 0.55, 1.49, quiet), "float layers no slower than PyTorch: full-precision resnet18 fp, batch 1, 1 thread", "FAIL", "0.40×"},
		{"lsq not measured", fakeInferReport(8.5, 2, 0.5, 0.55, 1.49, quiet), "resnet18 lsq-w4a4, batch 1, 1 thread", "n/a (not measured)", "—"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := targetVerdict(t, c.r, c.target)
			if got.Verdict != c.verdict || !strings.Contains(got.Measured, c.measure) {
				t.Errorf("got %q / %q, want %q / containing %q", got.Verdict, got.Measured, c.verdict, c.measure)
			}
		})
	}
	if n := len(fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet).Targets()); n != 15 {
		t.Errorf("%d targets, want 15 (issue 10 item 2)", n)
	}
	one := fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, quiet)
	one.Threads = 1
	if got := targetVerdict(t, one, "more threads never slower"); got.Verdict != "n/a (one core)" {
		t.Errorf("one core: scaling verdict %q", got.Verdict)
	}
}

func TestInferMarkdown(t *testing.T) {
	r := fakeInferReport(2.6, 1.2, 0.5, 0.55, 1.49, benchproc.ForeignLimit+1)
	r.Command, r.Rounds, r.Runs, r.BatchRuns = "lowbit bench infer", 3, 20, 2
	r.Trace = []LayerTime{{"conv1", "float", 0.003}, {"conv5", "xnor", 0.001}}
	r.Notes = []string{"a note"}
	var b bytes.Buffer
	r.WriteMarkdown(&b)
	md := b.String()
	for _, want := range []string{
		"# Packed inference, whole networks", "Generated by `lowbit bench infer`",
		"| resnet18 | xnor | 1 | 1 | 3 | 10.00 | 9.00 | 100.0 | 2.60× | 2.50× | — |",
		"The machine was busy", "| 1 | conv1 | float | 3.00 | 75.0% |",
		"| resnet18 xnor, batch 1, 1 thread: ≥ 8.0× PyTorch float | 2.60× (10.00 ms) | **FAIL** |",
		"**busy**", "- a note", "plus the elementwise layers",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "**PASS**") {
		t.Error("a busy report shows PASS")
	}
	// A high load average with quiet other processes (the harness's own
	// workers, or a decaying average) is no banner: the verdicts' measure.
	q := fakeInferReport(8.5, 2, 0.5, 0.55, 0.9, 0.05)
	q.LoadMax = 2.5
	b.Reset()
	q.WriteMarkdown(&b)
	if md := b.String(); strings.Contains(md, "**The machine was busy") || !strings.Contains(md, "**PASS**") {
		t.Errorf("quiet report with load 2.5: banner or no PASS:\n%s", md)
	}
}

// TestRunInferResNet20 runs the whole benchmark on ResNet-20 in process,
// without PyTorch, and checks the report's rows.
func TestRunInferResNet20(t *testing.T) {
	rep, err := RunInfer(InferOptions{Models: []InferModel{{"resnet20", "xnor"}, {"resnet20", "fp"}},
		Rounds: 2, Runs: 2, BatchRuns: 1, Batch: 4, Threads: 2, Command: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 8 {
		t.Fatalf("%d rows, want 2 networks × 2 thread settings × 2 batches:\n%+v", len(rep.Rows), rep.Rows)
	}
	for _, row := range rep.Rows {
		if row.Err != "" || row.Rounds != 2 || row.Median <= 0 || row.Min > row.Median {
			t.Errorf("row %+v", row)
		}
		if (row.Threads == 2) != (row.VsOneThread > 0) {
			t.Errorf("%s/%s %dt b%d: all cores / 1 thread %v", row.Model, row.Recipe, row.Threads, row.Batch, row.VsOneThread)
		}
		if row.VsFloat != 0 || row.VsInt8 != 0 {
			t.Errorf("ResNet-20 has a PyTorch ratio: %+v", row)
		}
	}
	if len(rep.Builds) != 2 || rep.Trace != nil {
		t.Errorf("builds %q, trace %v", rep.Builds, rep.Trace)
	}
	var b bytes.Buffer
	rep.WriteMarkdown(&b)
	for _, want := range []string{"| resnet20 | xnor | 1 | 1 | 2 |", "| resnet20 | fp | 2 | 4 | 2 |", "PyTorch: not run", "in-process (test run)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestInferTorchPeer starts both PyTorch peers on a tiny batch and asks
// each request once; it skips (fails under LOWBIT_REQUIRE_DATA=1, where CI
// installs python3-torch) without torch and torchvision.
func TestInferTorchPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch twice")
	}
	const python = "/usr/bin/python3"
	if exec.Command(python, "-c", "import torch, torchvision").Run() != nil {
		datatest.Missing(t, "%s cannot import torch and torchvision (Debian python3-torch, python3-torchvision)", python)
		return
	}
	peer, note, err := newInferPeer(python, 1)
	if err != nil || peer == nil {
		t.Fatalf("peer %v, note %q, err %v", peer, note, err)
	}
	defer peer.close()
	for _, kind := range []string{"float", "int8"} {
		p, err := benchproc.Start(kind, peer.inferCommand(kind, 2, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Ready(5 * time.Minute); err != nil {
			t.Fatal(err)
		}
		info, err := askTorchInfo(p)
		if err != nil || info.Threads != 1 || !strings.HasPrefix(info.Torch, peer.version[:2]) {
			t.Errorf("%s: info %+v, %v", kind, info, err)
		}
		for _, req := range []string{"run 2 1", "run 1 2 1"} {
			if f, err := p.Ask(req, "done", time.Minute); err != nil || len(f) != 3 {
				t.Errorf("%s: %s: %q %v", kind, req, f, err)
			}
		}
		if kind == "float" {
			if f, err := p.Ask("layers 2 1", "layers", time.Minute); err != nil || len(f) != 2 {
				t.Errorf("layers: %q %v", f, err)
			}
		}
		if _, err := p.Close("quit", "peak"); err != nil {
			t.Errorf("%s: quit: %v", kind, err)
		}
	}
}
