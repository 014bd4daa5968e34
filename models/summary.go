package models

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// LayerSummary is one row of a model summary.
type LayerSummary struct {
	Name   string
	Kind   string
	Out    []int
	Params int   // learnable values (latent weights, biases, BN, quantizer parameters)
	WBits  int   // bits per weight (32 when full precision, 0 without weights)
	ABits  int   // bits per input activation (32 when full precision, 0 without weights)
	Bytes  int64 // memory of the parameters at their deployed precision
	MACs   int64 // multiply-accumulates per sample
	Class  string
}

// Summary is a per-layer table in the style of Larq's model summary.
type Summary struct {
	Model  string
	Layers []LayerSummary
	// MACs per sample by precision class: "binary" (1-bit weights and inputs),
	// "k-bit" (both at most 8 bits) and "fp32" (anything else).
	MACs map[string]int64
	// Params, bytes at deployed precision, and bytes if everything were fp32.
	Params           int
	Bytes, FP32Bytes int64
}

// Summarize walks m's layers.
func Summarize(m *Model) (*Summary, error) {
	s := &Summary{Model: m.Spec.String(), MACs: map[string]int64{"binary": 0, "k-bit": 0, "fp32": 0}}
	if _, err := s.walk(m.Net, m.Spec.Input); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Summary) walk(l layers.Layer, in []int) ([]int, error) {
	switch c := l.(type) {
	case *layers.Sequential:
		var err error
		for _, x := range c.Layers {
			if in, err = s.walk(x, in); err != nil {
				return nil, err
			}
		}
		return in, nil
	case *layers.Residual:
		out, err := s.walk(c.Body, in)
		if err != nil {
			return nil, err
		}
		if c.Shortcut != nil {
			if _, err := s.walk(c.Shortcut, in); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	out, err := l.OutShape(in)
	if err != nil {
		return nil, err
	}
	row := LayerSummary{Name: l.Name(), Kind: kindOf(l), Out: out}
	var weights *layers.Param
	switch c := l.(type) {
	case *layers.Conv2D:
		cfg := c.Config()
		weights = c.W
		row.MACs = int64(out[0] * out[1] * cfg.Out * cfg.Kernel * cfg.Kernel * cfg.In)
	case *layers.Dense:
		cfg := c.Config()
		weights = c.W
		row.MACs = int64(cfg.In * cfg.Out)
	}
	if q, ok := l.(layers.Quantized); ok {
		w, a := q.Quantizers()
		row.WBits, row.ABits = ste.BitsFor(w, ste.Weights), ste.BitsFor(a, ste.Inputs)
		switch {
		case row.WBits == 1 && row.ABits == 1:
			row.Class = "binary"
		case row.WBits <= 8 && row.ABits <= 8:
			row.Class = "k-bit"
		default:
			row.Class = "fp32"
		}
		s.MACs[row.Class] += row.MACs
	}
	for _, p := range l.Params() {
		n := p.Value.Shape().TotalSize()
		row.Params += n
		bits := 32
		if p == weights {
			bits = row.WBits
		}
		row.Bytes += (int64(n)*int64(bits) + 7) / 8
		s.FP32Bytes += 4 * int64(n)
	}
	s.Params += row.Params
	s.Bytes += row.Bytes
	s.Layers = append(s.Layers, row)
	return out, nil
}

func kindOf(l layers.Layer) string {
	switch c := l.(type) {
	case *layers.Conv2D:
		k := c.Config().Kernel
		return fmt.Sprintf("conv%dx%d", k, k)
	case *layers.Dense:
		return "dense"
	case *layers.BatchNorm:
		return "batchnorm"
	case *layers.Pool:
		if c.IsMax() {
			return "maxpool"
		}
		return "avgpool"
	case *layers.Activation:
		return c.Kind()
	case *layers.Dropout:
		return "dropout"
	case *layers.Flatten:
		return "flatten"
	}
	return fmt.Sprintf("%T", l)
}

// Write prints the summary as a table.
func (s *Summary) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "model: %s\n", s.Model)
	fmt.Fprintln(tw, "layer\tkind\toutput\tparams\tw bits\ta bits\tmemory (B)\tMACs\tMAC class\t")
	for _, r := range s.Layers {
		wb, ab := "-", "-"
		if r.WBits > 0 {
			wb, ab = fmt.Sprint(r.WBits), fmt.Sprint(r.ABits)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\t%d\t%d\t%s\t\n", r.Name, r.Kind, r.Out, r.Params, wb, ab, r.Bytes, r.MACs, dash(r.Class))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ratio := float64(s.FP32Bytes) / float64(max(s.Bytes, 1))
	_, err := fmt.Fprintf(w, "total params: %d\nmemory: %d B at deployed precision, %d B at fp32 (compression %.2fx)\nMACs per sample: binary %d, k-bit %d, fp32 %d\n",
		s.Params, s.Bytes, s.FP32Bytes, ratio, s.MACs["binary"], s.MACs["k-bit"], s.MACs["fp32"])
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
