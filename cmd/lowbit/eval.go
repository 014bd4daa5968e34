package main

import (
	"fmt"
	"io"
	"math"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	register("eval", "evaluate a checkpoint on its dataset's test split", cmdEval)
}

func cmdEval(args []string, stdout io.Writer) error {
	fs := newFlags("eval")
	dataset := fs.String("dataset", "", "dataset (default: the one the checkpoint was trained on)")
	dataDir := fs.String("data", "", "dataset directory")
	batch := fs.Int("batch", 500, "evaluation batch size")
	limit := fs.Int("limit", 0, "evaluate the first N test examples only")
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
	if *batch < 1 {
		return usagef("-batch: %d is invalid: want ≥ 1", *batch)
	}
	if *limit < 0 {
		return usagef("-limit: %d is invalid: want ≥ 0 (0: all)", *limit)
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
	name := ck.Dataset
	if *dataset != "" {
		name = *dataset
	}
	scaling, _ := datasets.ParseScaling(ck.Config.Scaling) // an unknown name evaluates standardised
	cfg := recipes.Config{Dataset: name, DataDir: *dataDir, Scaling: scaling}
	if (name == "imagenette" || name == "imagefolder") && len(m.Spec.Input) == 3 {
		// Crop to the size the model was trained at (bench imagenet -size), not the preset 224.
		p := datasets.ImageNetEval(m.Spec.Input[0])
		if cfg.Test, err = datasets.Open(name, "val", *dataDir, datasets.Options{Scaling: scaling, Transform: &p, Classes: m.Spec.ClassNames}); err != nil {
			return err
		}
	}
	_, test, err := recipes.OpenData(&cfg)
	if err != nil {
		return err
	}
	acc, loss, err := recipes.Evaluate(m, test, *batch, 0, *limit)
	if err != nil {
		return err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("%s: %w: test loss is %v", pos[0], recipes.ErrNonFinite, loss)
	}
	n := test.Len()
	if *limit > 0 && *limit < n {
		n = *limit
	}
	fmt.Fprintf(stdout, "%s on %s: test accuracy %.2f%% (loss %.4f, %d examples), epoch %d\n", m.Spec.String(), name, 100*acc, loss, n, ck.Epoch)
	return nil
}
