package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/export/onnx"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	register("export", "freeze a checkpoint into a packed model file (CKPT -o model.lbq; -format onnx: ONNX)", cmdExport)
}

func cmdExport(args []string, stdout io.Writer) error {
	fs := newFlags("export")
	out := fs.String("o", "", "output model file (default: the checkpoint path with .lbq or .onnx)")
	format := fs.String("format", "lbq", "output format: lbq (lowbit's packed model) or onnx (standard ONNX, opset 13)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one checkpoint or run directory, got %d arguments", len(pos))
	}
	if pos[0], err = checkpointPath(pos[0]); err != nil {
		return err
	}
	if *format != "lbq" && *format != "onnx" {
		return usagef("-format %q: want lbq or onnx", *format)
	}
	path := *out
	if path == "" {
		path = strings.TrimSuffix(pos[0], ".ckpt") + "." + *format
	}
	ck, err := recipes.LoadCheckpoint(pos[0])
	if err != nil {
		return err
	}
	m, err := ck.Restore()
	if err == nil {
		err = recipes.CheckOutputFinite(m)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	// Restore filled the input normalisation and class names of the
	// checkpoint's dataset; more than 3 channels is not an image.
	info := bitpack.ModelInfo{Recipe: ck.Recipe, Dataset: ck.Dataset, TestAcc: ck.TestAcc, RawInput: m.Spec.Input[2] > 3}
	bm, err := export.FreezeWith(m, info)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if *format == "onnx" {
		if err := onnx.Write(path, bm); err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		in := m.Spec.Input
		fmt.Fprintf(stdout, "exported %s (%s) to %s (ONNX opset %d; input %q float32 [N,%d,%d,%d] normalised by mean %v std %v, output %q)\n",
			pos[0], m.Spec.String(), path, onnx.Opset, onnx.Input, in[2], in[0], in[1], bm.Info().Mean, bm.Info().Std, onnx.Output)
		return nil
	}
	if err := export.Write(path, bm); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %s (%s) to %s\n", pos[0], m.Spec.String(), path)
	return writeModelReport(stdout, bm, path)
}

// writeModelReport prints each layer's kernel and size, and the file size
// against the model in float32.
func writeModelReport(w io.Writer, bm *bitpack.Model, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tKIND\tKERNEL\tINPUT\tWEIGHTS\tPARAMS\tBYTES\tFP32 BYTES")
	var fp32 int
	for _, r := range bm.Report() {
		fp32 += r.FP32Bytes
		if r.Params == 0 && r.Kernel == "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\n", r.Name, r.Kind)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", r.Name, r.Kind, r.Kernel, r.Input, r.Weights, r.Params, r.Bytes, r.FP32Bytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	info := bm.Info()
	fmt.Fprintf(w, "model %s (recipe %s, dataset %s), input %v, %d classes\n", info.Name, orDash(info.Recipe), orDash(info.Dataset), bm.Input(), bm.Classes())
	ratio := 0.0
	if st.Size() > 0 {
		ratio = float64(fp32) / float64(st.Size())
	}
	fmt.Fprintf(w, "size on disk %s (%d bytes) vs fp32 %s (%d bytes): %.1fx smaller\n", human(st.Size()), st.Size(), human(int64(fp32)), fp32, ratio)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
