package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// runFile is a run config file (train -config FILE, JSON): the recipe, the
// model, per-layer quantizer overrides and the data. Its settings sit between
// the recipe and the flags: defaults < recipe < file < flags set on the command line.
//
//	{
//	  "recipe": "lsq-w4a4",
//	  "model": "lenet5",
//	  "dataset": "mnist",
//	  "data": "",
//	  "epochs": 3,
//	  "override": {"conv1": {"weights": "lsq(bits=8)", "inputs": "fp"}}
//	}
type runFile struct {
	Recipe   string                       `json:"recipe,omitempty"`
	Model    string                       `json:"model,omitempty"`
	Dataset  string                       `json:"dataset,omitempty"`
	Data     string                       `json:"data,omitempty"`
	Weights  string                       `json:"weights,omitempty"`
	Inputs   string                       `json:"inputs,omitempty"`
	Policy   string                       `json:"policy,omitempty"`
	Act      string                       `json:"act,omitempty"`
	Hidden   string                       `json:"hidden,omitempty"`
	Width    float64                      `json:"width,omitempty"`
	Epochs   int                          `json:"epochs,omitempty"`
	Batch    int                          `json:"batch,omitempty"`
	LR       float64                      `json:"lr,omitempty"`
	Seed     *uint64                      `json:"seed,omitempty"`
	Val      float64                      `json:"val,omitempty"`
	Override map[string]models.LayerQuant `json:"override,omitempty"`
	Note     string                       `json:"note,omitempty"`
}

const maxConfigBytes = 1 << 20

// applyConfigFile reads -config and sets each flag it gives that the command
// line did not, so the flags' checks apply to it; it returns the overrides.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) (map[string]models.LayerQuant, error) {
	b, err := readCapped(path, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	var rf runFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		return nil, usagef("-config %s: %v", path, err)
	}
	vals := map[string]string{"recipe": rf.Recipe, "model": rf.Model, "dataset": rf.Dataset, "data": rf.Data, "weights": rf.Weights,
		"inputs": rf.Inputs, "policy": rf.Policy, "act": rf.Act, "hidden": rf.Hidden}
	if rf.Width != 0 {
		vals["width"] = fmt.Sprint(rf.Width)
	}
	if rf.Epochs != 0 {
		vals["epochs"] = strconv.Itoa(rf.Epochs)
	}
	if rf.Batch != 0 {
		vals["batch"] = strconv.Itoa(rf.Batch)
	}
	if rf.LR != 0 {
		vals["lr"] = fmt.Sprint(rf.LR)
	}
	if rf.Seed != nil {
		vals["seed"] = strconv.FormatUint(*rf.Seed, 10)
	}
	if rf.Val != 0 {
		vals["val"] = fmt.Sprint(rf.Val)
	}
	for name, v := range vals {
		if v == "" || set[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return nil, usagef("-config %s: %s: %v", path, name, err)
		}
	}
	return rf.Override, nil
}

// sensitivityConfig is the run file for the mixed precision that sensitivity
// suggests: every scanned layer gets the tried quantizer at its suggested
// weight bits, and inputs (the -inputs quantizer; full precision without it).
func sensitivityConfig(rep *bench.SensitivityReport, model models.Spec, dataset string, weights, inputs ste.Quantizer) (runFile, error) {
	rf := runFile{Model: model.Name, Dataset: dataset, Override: map[string]models.LayerQuant{},
		Note: fmt.Sprintf("lowbit sensitivity %s: %s weights at %.2f average bits (budget %g)", rep.Checkpoint, rep.Weights, rep.AvgBits, rep.Budget)}
	if model.Width != 0 && model.Width != 1 {
		rf.Width = model.Width
	}
	if len(model.Hidden) > 0 {
		h := make([]string, len(model.Hidden))
		for i, n := range model.Hidden {
			h[i] = strconv.Itoa(n)
		}
		rf.Hidden = strings.Join(h, ",")
	}
	names := make([]string, 0, len(rep.Assignment))
	for n := range rep.Assignment {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := weights
		if bits := rep.Assignment[n]; bits != rep.LowBits {
			hq, ok, err := ste.SetParam(weights, "bits", strconv.Itoa(bits))
			if err != nil || !ok {
				return rf, fmt.Errorf("sensitivity: %s has no bits parameter to set to %d for layer %s", ste.SpecOf(weights), bits, n)
			}
			q = hq
		}
		rf.Override[n] = models.LayerQuant{Weights: q, Inputs: inputs}
	}
	return rf, nil
}

// writeRunFile writes rf as indented JSON.
func writeRunFile(path string, rf runFile) error {
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}
