package bench

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// WritePTQReport writes ptq.md, ptq.csv and ptq.png for cells into dir.
func WritePTQReport(dir string, cells []PTQCell, command string, m Machine) error {
	var md strings.Builder
	WriteHeader(&md, "Post-training quantization against QAT", command, m)
	WritePTQTables(&md, cells)
	if err := writeFile(filepath.Join(dir, "ptq.md"), []byte(md.String())); err != nil {
		return err
	}
	var cb strings.Builder
	fmt.Fprintln(&cb, "dataset,model,kind,w_bits,a_bits,acc,seconds,calib,detail")
	for _, c := range cells {
		fmt.Fprintf(&cb, "%s,%s,%s,%d,%d,%.2f,%.2f,%d,%q\n", c.Dataset, c.Model, c.Kind, c.WBits, c.ABits, c.Acc, c.Seconds, c.Calib, c.Detail)
	}
	if err := writeFile(filepath.Join(dir, "ptq.csv"), []byte(cb.String())); err != nil {
		return err
	}
	png, err := ptqPlot(cells)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "ptq.png"), png)
}

// ptqPlot draws accuracy against bit widths, one panel per dataset and one line per
// method (the float model drawn at every width as the reference).
func ptqPlot(cells []PTQCell) ([]byte, error) {
	var cs []Cell
	var sets []string
	bits := map[string][]WA{}
	for _, c := range cells {
		if c.Kind != KindFP {
			bits[c.Dataset] = append(bits[c.Dataset], WA{c.WBits, c.ABits})
		}
	}
	for _, c := range cells {
		if !slices.Contains(sets, c.Dataset) {
			sets = append(sets, c.Dataset)
		}
		if c.Kind == KindFP {
			for _, b := range bits[c.Dataset] {
				cs = append(cs, Cell{Dataset: c.Dataset, Family: ptqKindTitle[c.Kind], WBits: b.W, ABits: b.A, Acc: c.Acc})
			}
			continue
		}
		cs = append(cs, Cell{Dataset: c.Dataset, Family: ptqKindTitle[c.Kind], WBits: c.WBits, ABits: c.ABits, Acc: c.Acc})
	}
	return accuracyPlot(cs, sets)
}

// WritePTQTables writes one table per dataset/model: a row per method, a column per
// bit width, each cell "accuracy (time)"; then the details and the target checks.
func WritePTQTables(w io.Writer, cells []PTQCell) {
	type group struct{ ds, model string }
	var groups []group
	for _, c := range cells {
		if g := (group{c.Dataset, c.Model}); !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	fmt.Fprintf(w, "Test top-1 accuracy (%%) of each float checkpoint quantized after training, and of LSQ quantization-aware training from the same checkpoint, at each body-layer bit width (first and last layers stay in full precision, as in the float model's policy). ")
	fmt.Fprintf(w, "The time in brackets is the quantization's (calibration, rounding, AdaRound, bias correction; evaluation excluded) or QAT's training time. PTQ calibrates on the same seeded sample of training images in every cell.\n\n")
	for _, g := range groups {
		writePTQGroup(w, g.ds, g.model, cells)
	}
}

func writePTQGroup(w io.Writer, ds, model string, cells []PTQCell) {
	var bits []WA
	by := map[string]PTQCell{}
	calib := 0
	for _, c := range cells {
		if c.Dataset != ds || c.Model != model {
			continue
		}
		by[c.Kind+fmt.Sprintf("/%d/%d", c.WBits, c.ABits)] = c
		if c.Kind != KindFP && !slices.Contains(bits, WA{c.WBits, c.ABits}) {
			bits = append(bits, WA{c.WBits, c.ABits})
		}
		calib = max(calib, c.Calib)
	}
	slices.SortStableFunc(bits, func(a, b WA) int { return (b.W*100 + b.A) - (a.W*100 + a.A) })
	fp, hasFP := by[KindFP+"/32/32"]
	fmt.Fprintf(w, "### %s, %s (%d calibration images)\n\n| method |", title(ds), model, calib)
	for _, b := range bits {
		fmt.Fprintf(w, " W%dA%d |", b.W, b.A)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(bits)))
	if hasFP {
		fmt.Fprintf(w, "| %s | %.2f%s |\n", ptqKindTitle[KindFP], fp.Acc, strings.Repeat(" | ", len(bits)-1))
	}
	var details []string
	for _, k := range ptqKinds[1:] {
		row := fmt.Sprintf("| %s |", ptqKindTitle[k])
		any := false
		for _, b := range bits {
			c, ok := by[fmt.Sprintf("%s/%d/%d", k, b.W, b.A)]
			if !ok {
				row += " – |"
				continue
			}
			any = true
			row += fmt.Sprintf(" %.2f (%s) |", c.Acc, fmtDuration(c.Seconds))
			if c.Detail != "" {
				details = append(details, fmt.Sprintf("%s W%dA%d: %s", ptqKindTitle[k], b.W, b.A, c.Detail))
			}
		}
		if any {
			fmt.Fprintln(w, row)
		}
	}
	fmt.Fprintln(w)
	if hasFP {
		writePTQChecks(w, fp, by)
	}
	if len(details) > 0 {
		fmt.Fprintln(w, "<details><summary>settings of each cell</summary>")
		fmt.Fprintln(w)
		for _, d := range details {
			fmt.Fprintf(w, "- %s\n", d)
		}
		fmt.Fprintln(w, "\n</details>")
		fmt.Fprintln(w)
	}
}

// writePTQChecks states the targets against the cells: W8A8 PTQ within 0.3
// points of FP, W4A8 AdaRound within 1 point, lowbit's W8A8 PTQ ≥ PyTorch's.
func writePTQChecks(w io.Writer, fp PTQCell, by map[string]PTQCell) {
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	best8 := -1.0
	for _, k := range []string{KindPTQMax, KindPTQBest, KindAdaRound} {
		if c, ok := by[k+"/8/8"]; ok {
			best8 = max(best8, c.Acc)
		}
	}
	if best8 >= 0 {
		fmt.Fprintf(w, "- W8A8 PTQ within 0.3 points of FP: best %.2f vs FP %.2f (%+.2f): %s.\n", best8, fp.Acc, best8-fp.Acc, check(best8 >= fp.Acc-0.3))
	}
	if c, ok := by[KindAdaRound+"/4/8"]; ok {
		fmt.Fprintf(w, "- W4A8 PTQ + AdaRound within 1 point of FP: %.2f vs %.2f (%+.2f): %s.\n", c.Acc, fp.Acc, c.Acc-fp.Acc, check(c.Acc >= fp.Acc-1))
	}
	if t, ok := by[KindTorch+"/8/8"]; ok && best8 >= 0 {
		fmt.Fprintf(w, "- lowbit's W8A8 PTQ at least as accurate as PyTorch's: %.2f vs %.2f: %s.\n", best8, t.Acc, check(best8 >= t.Acc))
	}
	fmt.Fprintln(w)
}

// appendPTQSection adds the PTQ rows (from `lowbit bench ptq`, ptq-runs.json in dir)
// to the accuracy report, beside the QAT recipes; nothing when there are none.
func appendPTQSection(w io.Writer, dir string) error {
	cells, err := LoadPTQCells(dir)
	if err != nil || len(cells) == 0 {
		return err
	}
	fmt.Fprintf(w, "\n## Post-training quantization (from `lowbit bench ptq`, see [ptq.md](ptq.md) and ptq.png)\n\n")
	WritePTQTables(w, cells)
	return nil
}
