package main

import (
	"io"
	"strconv"
	"strings"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	register("summary", "per-layer params, bits, memory and MACs of a model, recipe or checkpoint", cmdSummary)
}

func cmdSummary(args []string, stdout io.Writer) error {
	fs := newFlags("summary")
	var mf modelFlags
	mf.add(fs)
	recipe := fs.String("recipe", "", "take quantizers and policy from this recipe")
	input := fs.String("input", "", "input shape H,W,C (default: the model's)")
	classes := fs.Int("classes", 0, "number of classes (default: the model's)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	var spec models.Spec
	switch {
	case len(pos) > 1:
		return usagef("want at most one checkpoint or model file, got %d", len(pos))
	case len(pos) == 1:
		if strings.HasSuffix(pos[0], ".lbq") {
			return summarizeModelFile(pos[0], stdout)
		}
		path, err := checkpointPath(pos[0])
		if err != nil {
			return err
		}
		ck, err := recipes.LoadCheckpoint(path)
		if err != nil {
			return err
		}
		spec = ck.Model
	case *recipe != "":
		r, err := recipes.Lookup(*recipe)
		if err != nil {
			return err
		}
		model := ""
		if set["model"] {
			model = mf.model
		}
		spec = r.Config(model, "").Model
	}
	if err := mf.apply(&spec, set); err != nil {
		return err
	}
	if *input != "" {
		spec.Input = nil
		for _, f := range strings.Split(*input, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return usagef("-input: %q is not a positive size", f)
			}
			spec.Input = append(spec.Input, n)
		}
	}
	if *classes > 0 {
		spec.Classes = *classes
	}
	m, err := models.New(spec)
	if err != nil {
		return err
	}
	s, err := models.Summarize(m)
	if err != nil {
		return err
	}
	return s.Write(stdout)
}
