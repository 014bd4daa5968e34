package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// parseTrain parses a train command line into trainFlags as cmdTrain does.
func parseTrain(t *testing.T, args ...string) *trainFlags {
	t.Helper()
	fs := newFlags("train")
	fs.SetOutput(io.Discard)
	var f trainFlags
	f.add(fs)
	if _, err := parseInterleaved(fs, args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	f.set, f.given = setFlags(fs), map[string]string{}
	return &f
}

// TestTrainConfigPrecedence checks trainConfig's precedence, defaults < recipe < set
// flags, and that each field comes out as documented.
// failIf is msg when bad, else "" (a check's verdict).
func failIf(bad bool, msg string) string {
	if bad {
		return msg
	}
	return ""
}

func TestTrainConfigPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(c recipes.Config) string // "" when right
	}{
		{"defaults", nil, func(c recipes.Config) string {
			d := recipes.Defaults()
			if c.Epochs != d.Epochs || c.Batch != d.Batch || c.LR != d.LR || c.Seed != 1 || c.Model.Seed != 1 || c.Optimizer != "adam" || c.Schedule != recipes.Cosine {
				return "not the defaults"
			}
			if c.Model.Name != "lenet5" || c.Dataset != "mnist" {
				return "model " + c.Model.Name
			}
			return ""
		}},
		{"a recipe keeps the default seed", []string{"-recipe", "xnor"}, func(c recipes.Config) string {
			if c.Seed != 1 || c.Model.Seed != 1 || c.Recipe != "xnor" || c.Epochs != 3 || c.LR != 1e-3 {
				return "recipe run lost a default"
			}
			if ste.SpecOf(c.Model.Weights) != ste.SpecOf(ste.XNOR{}) {
				return "recipe settings lost"
			}
			return ""
		}},
		{"flags beat the recipe", []string{"-recipe", "bnn", "-seed", "7", "-latent-clip", "0.5", "-epochs", "2", "-model", "mlp", "-hidden", "32,16"}, func(c recipes.Config) string {
			if c.Seed != 7 || c.Model.Seed != 7 || c.LatentClip != 0.5 || c.Epochs != 2 || c.Model.Name != "mlp" || !reflect.DeepEqual(c.Model.Hidden, []int{32, 16}) {
				return "a flag did not override"
			}
			return ""
		}},
		{"recipe latent clip kept", []string{"-recipe", "bnn"}, func(c recipes.Config) string {
			if c.LatentClip != 1 || c.Model.Policy != models.SameWeights {
				return "bnn settings lost"
			}
			return ""
		}},
		{"sgd momentum default", []string{"-optimizer", "sgd"}, func(c recipes.Config) string {
			return failIf(c.Opt.Momentum != 0.9, "momentum not 0.9")
		}},
		{"explicit zero momentum", []string{"-optimizer", "sgd", "-momentum", "0"}, func(c recipes.Config) string {
			return failIf(c.Opt.Momentum != 0, "momentum 0 became the default")
		}},
		{"setup cifar", []string{"-model", "resnet20", "-dataset", "cifar10", "-setup", "cifar"}, func(c recipes.Config) string {
			o := c.Opt
			if c.Optimizer != "sgd" || c.LR != 0.1 || !o.Nesterov || o.Momentum != 0.9 || o.WeightDecay != 5e-4 || o.DecayAll ||
				c.Schedule != recipes.Cosine || c.Batch != 128 || c.Epochs != 15 || c.Model.Name != "resnet20" {
				return "not the cifar setup"
			}
			return ""
		}},
		{"flags beat the setup", []string{"-recipe", "lsq-w4a4", "-model", "resnet20", "-dataset", "cifar10", "-setup", "cifar", "-epochs", "5", "-lr", "0.01"}, func(c recipes.Config) string {
			if c.Epochs != 5 || c.LR != 0.01 || c.Optimizer != "sgd" || !c.Opt.Nesterov || c.Recipe != "lsq-w4a4" || ste.SpecOf(c.Model.Weights) != ste.SpecOf(ste.LSQ{Bits: 4}) {
				return "a flag did not override the setup, or the recipe's quantizers were lost"
			}
			return ""
		}},
		{"seed 0 is a seed", []string{"-seed", "0", "-out", "x.ckpt"}, func(c recipes.Config) string {
			return failIf(c.Seed != 0, "seed 0 lost")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := trainConfig(parseTrain(t, tc.args...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("%v: %s: %+v", tc.args, msg, c)
			}
		})
	}
}

// TestTrainConfigRefuses: zero, negative, non-finite and sloppy values are usage
// errors naming the flag, not silently the default.
func TestTrainConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-epochs", "0"}, "-epochs"},
		{[]string{"-epochs", "-1"}, "-epochs"},
		{[]string{"-batch", "0"}, "-batch"},
		{[]string{"-batch", "-5"}, "-batch"},
		{[]string{"-lr", "0"}, "-lr"},
		{[]string{"-lr", "-1e-3"}, "-lr"},
		{[]string{"-lr", "NaN"}, "-lr"},
		{[]string{"-lr", "Inf"}, "-lr"},
		{[]string{"-lr", "1e300"}, "-lr"},
		{[]string{"-width", "NaN"}, "-width"},
		{[]string{"-width", "-1"}, "-width"},
		{[]string{"-width", "0"}, "-width"},
		{[]string{"-width", "+Inf"}, "-width"},
		{[]string{"-latent-clip", "NaN"}, "-latent-clip"},
		{[]string{"-latent-clip", "-1"}, "-latent-clip"},
		{[]string{"-wd", "NaN"}, "-wd"},
		{[]string{"-momentum", "1"}, "-momentum"},
		{[]string{"-workers", "-1"}, "-workers"},
		{[]string{"-max-steps", "-1"}, "-max-steps"},
		{[]string{"-threads", "-2"}, "-threads"},
		{[]string{"-model", "mlp", "-hidden", "16abc"}, "-hidden"},
		{[]string{"-model", "mlp", "-hidden", "0x20"}, "-hidden"},
		{[]string{"-model", "mlp", "-hidden", "1_0"}, "-hidden"},
		{[]string{"-model", "mlp", "-hidden", "16,,8"}, "-hidden"},
		{[]string{"-model", "mlp", "-hidden", "0"}, "-hidden"},
		{[]string{"-model", "mlp", "-hidden", ""}, "-hidden"},
		{[]string{"-weights", "lsq:bits=x"}, "-weights"},
		{[]string{"-recipe", "nope"}, "-recipe"},
		{[]string{"-recipe", "lsq-w4a4", "-epochs", "0"}, "-epochs"},
		{[]string{"-setup", "nope", "-dataset", "cifar10"}, "-setup"},
		{[]string{"-setup", "cifar"}, "-setup"}, // made for CIFAR, the default dataset is mnist
		{[]string{"-setup", "cifar", "-dataset", "fashion-mnist"}, "-setup"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := trainConfig(parseTrain(t, tc.args...), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !isUsage(err) || !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("error %q: want a usage error naming %s", err, tc.flag)
			}
		})
	}
}

// TestTrainConfigResume: a resume takes every setting from the checkpoint; a flag
// that repeats one is fine, one that contradicts it is a usage error.
func TestTrainConfigResume(t *testing.T) {
	ck := &recipes.Checkpoint{
		Model:   models.Spec{Name: "mlp", Hidden: []int{48, 32}, Weights: ste.Sign{}, Inputs: ste.Sign{}, Policy: models.SameWeights, Seed: 5, Input: []int{28, 28, 1}, Classes: 10},
		Recipe:  "bnn",
		Dataset: "mnist",
		Config:  recipes.RunConfig{Epochs: 4, Batch: 32, LR: 0.01, Optimizer: "adam", Schedule: "cosine", Seed: 5, LatentClip: 1},
	}
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{nil, "r.ckpt"},
		{[]string{"-seed", "5", "-recipe", "bnn", "-model", "mlp", "-hidden", "48,32", "-epochs", "4", "-batch", "32", "-lr", "0.01", "-latent-clip", "1"}, "r.ckpt"},
		{[]string{"-width", "1", "-workers", "2", "-max-steps", "9", "-out", "other.ckpt", "-data", "/x"}, "other.ckpt"},
	} {
		args := tc.args
		f := parseTrain(t, append([]string{"-resume", "r.ckpt"}, args...)...)
		c, err := trainConfig(f, ck)
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if c.Seed != 5 || c.LatentClip != 1 || c.Recipe != "bnn" || c.Epochs != 4 || c.Batch != 32 || c.Model.Name != "mlp" || !reflect.DeepEqual(c.Model.Hidden, []int{48, 32}) {
			t.Errorf("%v: settings not from the checkpoint: %+v", args, c)
		}
		if _, out := runPaths(f.out, f.resume, c, time.Time{}); out != tc.out {
			t.Errorf("%v: out %q, want %q", args, out, tc.out)
		}
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"-seed", "1"}}, {[]string{"-seed", "0"}}, {[]string{"-recipe", "xnor"}}, {[]string{"-model", "lenet5"}},
		{[]string{"-hidden", "48"}}, {[]string{"-epochs", "10"}}, {[]string{"-latent-clip", "0"}}, {[]string{"-lr", "0.1"}},
		{[]string{"-optimizer", "sgd"}}, {[]string{"-schedule", "constant"}}, {[]string{"-width", "0.5"}},
		{[]string{"-weights", "lsq:bits=2"}}, {[]string{"-dataset", "fashion-mnist"}}, {[]string{"-init-from", "x.ckpt"}},
	} {
		_, err := trainConfig(parseTrain(t, append([]string{"-resume", "r.ckpt"}, tc.args...)...), ck)
		if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.args[0]) {
			t.Errorf("%v: err %v, want a usage error naming %s", tc.args, err, tc.args[0])
		}
	}
}

func TestParseSizesStrict(t *testing.T) {
	got, err := parseSizes("-hidden", "4096, 16,1")
	if err != nil || !reflect.DeepEqual(got, []int{4096, 16, 1}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseSizes("-hidden", "+5"); err == nil {
		t.Error("+5 accepted")
	}
}
