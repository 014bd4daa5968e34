package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

func init() {
	register("sensitivity", "quantize one layer at a time and report each layer's accuracy drop; suggest mixed precision", cmdSensitivity)
}

func cmdSensitivity(args []string, stdout io.Writer) error {
	fs := newFlags("sensitivity")
	weights := fs.String("weights", "", "quantizer tried on each layer's weights, e.g. lsq:bits=2 (known: "+strings.Join(ste.Names(), ", ")+")")
	inputs := fs.String("inputs", "", "quantizer tried on each layer's inputs too (default: leave them)")
	budget := fs.Float64("budget", 0, "suggest weight bits per layer for this average (weighted by weight count); 0: no suggestion")
	high := fs.Int("high", 8, "bits of the layers the suggestion keeps above the -weights quantizer")
	out := fs.String("o", "", "bar chart PNG (default: sensitivity-CKPTNAME.png next to the checkpoint, in its run directory; - for none)")
	alias(fs, "o", "out")
	evalLimit := fs.Int("limit", 0, "evaluate on the first N test examples (0: all)")
	alias(fs, "limit", "eval-limit")
	configOut := fs.String("config-out", "", "with -budget: the suggested mixed precision as a run config file for 'train -config' (default: mixed-precision.json next to the checkpoint; - for none)")
	dataDir := fs.String("data", "", "dataset directory (default: $LOWBIT_DATA or the built-in search)")
	workers := fs.Int("workers", 0, "data loader workers (default GOMAXPROCS)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one checkpoint or run directory, got %d arguments (usage: lowbit sensitivity CKPT -weights QUANT [-inputs QUANT] [-budget BITS])", len(pos))
	}
	if pos[0], err = checkpointPath(pos[0]); err != nil {
		return err
	}
	cfg := bench.SensitivityConfig{Checkpoint: pos[0], Budget: *budget, High: *high, EvalLimit: *evalLimit, DataDir: *dataDir, Workers: *workers}
	if cfg.Weights, err = ste.Parse(*weights); err != nil {
		return usageErr("-weights", err)
	}
	if cfg.Inputs, err = ste.Parse(*inputs); err != nil {
		return usageErr("-inputs", err)
	}
	rep, err := bench.Sensitivity(cfg)
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if err := writeSuggestion(rep, cfg, pos[0], *configOut, stdout); err != nil {
		return err
	}
	if *out == "-" {
		return nil
	}
	path := *out
	if path == "" {
		name := strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
		path = filepath.Join(filepath.Dir(pos[0]), "sensitivity-"+name+".png")
	}
	png, err := rep.PNG()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, png); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}

// writeSuggestion writes the -budget suggestion as a run config file.
func writeSuggestion(rep *bench.SensitivityReport, cfg bench.SensitivityConfig, ckpt, out string, stdout io.Writer) error {
	if cfg.Budget <= 0 || !rep.Feasible || len(rep.Assignment) == 0 || out == "-" {
		return nil
	}
	ck, err := recipes.LoadCheckpoint(ckpt)
	if err != nil {
		return err
	}
	rf, err := sensitivityConfig(rep, ck.Model, ck.Dataset, cfg.Weights, cfg.Inputs)
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(filepath.Dir(ckpt), "mixed-precision.json")
	}
	if err := writeRunFile(out, rf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (train it: lowbit train -config %s)\n", out, out)
	return nil
}
