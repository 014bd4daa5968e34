package bench

import (
	"fmt"
	"strings"
)

// InferTarget is one of issue 10's speed targets with what was measured
// and its verdict: PASS, FAIL, busy (the machine was busy and it would
// pass) or n/a (why).
type InferTarget struct {
	Text, Measured, Verdict string
}

// Targets evaluates issue 10 item 2's targets on this report, one row
// per target; none passes when the machine was busy.
func (r *InferReport) Targets() []InferTarget {
	ts := []InferTarget{
		r.speedup("resnet18", "xnor", 1, "float", 8),
		r.speedup("resnet18", "xnor", 1, "int8", 2),
		r.speedup("resnet18", "xnor", r.Threads, "float", 4),
		r.speedup("resnet18", "xnor", r.Threads, "int8", 1.5),
		r.speedup("birealnet18", "xnor", 1, "float", 6),
		r.speedup("birealnet18", "xnor", 1, "int8", 1.5),
		r.speedup("resnet18", "lsq-w4a4", 1, "int8", 1.0),
		r.speedup("resnet18", "lsq-w4a4", r.Threads, "int8", 1.0),
		r.speedup("resnet18", "dorefa-w1a2", 1, "int8", 1.2),
		r.scaling(),
		r.linearity(),
	}
	ts = append(ts, r.floatLayers()...)
	if r.Busy() != "" {
		for i := range ts {
			if ts[i].Verdict == "PASS" {
				ts[i].Verdict = "busy"
			}
		}
	}
	return ts
}

func (r *InferReport) threadsText(threads int) string {
	if threads == 1 {
		return "1 thread"
	}
	return fmt.Sprintf("all cores (%d)", threads)
}

// speedup: model/recipe at batch 1 is at least goal× PyTorch peer's speed.
func (r *InferReport) speedup(model, recipe string, threads int, peer string, goal float64) InferTarget {
	text := fmt.Sprintf("%s %s, batch 1, %s: ≥ %.1f× PyTorch %s", model, recipe, r.threadsText(threads), goal, peer)
	if threads > 1 && r.Threads <= 1 {
		return InferTarget{text, "—", "n/a (one core)"}
	}
	row := r.Row(model, recipe, threads, 1)
	if row == nil || row.Median == 0 {
		return InferTarget{text, "—", "n/a (not measured)"}
	}
	ratio := row.VsFloat
	if peer == "int8" {
		ratio = row.VsInt8
	}
	if ratio == 0 {
		return InferTarget{text, "—", "n/a (PyTorch not run)"}
	}
	return InferTarget{text, fmt.Sprintf("%.2f× (%s ms)", ratio, fmtMS(row.Median)), verdict(ratio >= goal)}
}

// overAll checks f(row) on every engine row at threads all and batch b;
// f returns the measured ratio and whether it meets the goal.
func (r *InferReport) overAll(text string, b int, f func(InferRow) (float64, bool)) InferTarget {
	if r.Threads <= 1 {
		return InferTarget{text, "—", "n/a (one core)"}
	}
	var got, over []string
	for _, row := range r.Rows {
		if row.Peer != "" || row.Threads != r.Threads || row.Batch != b || row.VsOneThread == 0 {
			continue
		}
		v, ok := f(row)
		item := fmt.Sprintf("%s/%s %.2f", row.Model, row.Recipe, v)
		got = append(got, item)
		if !ok {
			over = append(over, item)
		}
	}
	switch {
	case len(got) == 0:
		return InferTarget{text, "—", "n/a (not measured)"}
	case len(over) > 0:
		return InferTarget{text, fmt.Sprintf("%d of %d miss: %s", len(over), len(got), strings.Join(got, ", ")), "FAIL"}
	}
	return InferTarget{text, strings.Join(got, ", "), "PASS"}
}

// scaling: at batch 1, all cores take ≤ 0.65× the 1-thread time.
func (r *InferReport) scaling() InferTarget {
	text := fmt.Sprintf("more threads never slower: batch 1, all cores (%d) ≤ 0.65× the 1-thread time, every network", r.Threads)
	return r.overAll(text, 1, func(row InferRow) (float64, bool) { return row.VsOneThread, row.VsOneThread <= 0.65 })
}

// linearity: batch-B throughput on all cores ≥ 80% of cores × 1 thread's.
func (r *InferReport) linearity() InferTarget {
	text := fmt.Sprintf("batch-%d throughput on all cores (%d) ≥ 80%% of linear (cores × 1-thread images/s), every network", r.Batch, r.Threads)
	return r.overAll(text, r.Batch, func(row InferRow) (float64, bool) {
		eff := 1 / (float64(r.Threads) * row.VsOneThread)
		return eff, eff >= 0.8
	})
}

// floatLayers: the engine's float layers (ResNet-18's first conv and
// classifier, and the full-precision ResNet-18 whole) no slower than PyTorch's.
func (r *InferReport) floatLayers() []InferTarget {
	var ts []InferTarget
	for i, name := range []string{"first conv 7×7/2", "classifier 512→1000"} {
		text := fmt.Sprintf("float layers no slower than PyTorch: %s, 1 thread, batch 1 (lowbit / PyTorch ≤ 1.0)", name)
		switch {
		case i >= len(r.Floats):
			ts = append(ts, InferTarget{text, "—", "n/a (not measured: needs resnet18/xnor and PyTorch)"})
		case r.Floats[i].Ratio == 0:
			ts = append(ts, InferTarget{text, "—", "n/a (PyTorch not measured)"})
		default:
			f := r.Floats[i]
			ts = append(ts, InferTarget{text, fmt.Sprintf("%.2f× (%s against %s ms)", f.Ratio, fmtMS(f.Engine), fmtMS(f.Torch)), verdict(f.Ratio <= 1.0)})
		}
	}
	for _, th := range []int{1, r.Threads} {
		t := r.speedup("resnet18", "fp", th, "float", 1.0)
		t.Text = "float layers no slower than PyTorch: full-precision " + t.Text
		ts = append(ts, t)
		if r.Threads <= 1 {
			break
		}
	}
	return ts
}
