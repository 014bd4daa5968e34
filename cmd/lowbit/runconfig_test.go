package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

// TestConfigFilePrecedence: defaults < recipe < config file < flags; overrides reach the spec.
func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "run.json")
	os.WriteFile(file, []byte(`{"recipe": "xnor", "model": "mlp", "hidden": "32,16", "epochs": 5, "seed": 0,
		"override": {"dense1": {"weights": "lsq(bits=8)", "inputs": "fp"}}}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"recipe": "xnor", "epochz": 5}`), 0o644)
	badName := filepath.Join(dir, "badname.json")
	os.WriteFile(badName, []byte(`{"model": "resnet9000"}`), 0o644)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(c recipes.Config) string
		code  int
	}{
		{"file beats recipe and defaults", []string{"-config", file}, func(c recipes.Config) string {
			if c.Recipe != "xnor" || c.Model.Name != "mlp" || c.Epochs != 5 || c.Seed != 0 || len(c.Model.Hidden) != 2 {
				return "file settings lost"
			}
			if o, ok := c.Model.Override["dense1"]; !ok || ste.SpecOf(o.Weights) != "lsq(bits=8)" || o.Inputs != nil {
				return "override lost"
			}
			return ""
		}, 0},
		{"flags beat the file", []string{"-config", file, "-epochs", "2", "-seed", "9"}, func(c recipes.Config) string {
			if c.Epochs != 2 || c.Seed != 9 || c.Recipe != "xnor" {
				return "flags lost"
			}
			return ""
		}, 0},
		{"unknown field", []string{"-config", bad}, nil, 2},
		{"unknown model in file", []string{"-config", badName}, nil, 2},
		{"missing file", []string{"-config", filepath.Join(dir, "none.json")}, nil, 1},
		{"with -resume", []string{"-config", file, "-resume", "x.ckpt"}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.check == nil {
				code, _, errs := runCLI(append([]string{"train"}, tc.args...)...)
				if code != tc.code || !strings.Contains(errs, "-config") && !strings.Contains(errs, ".json") && !strings.Contains(errs, "resnet9000") {
					t.Errorf("exit %d (want %d), stderr %q", code, tc.code, errs)
				}
				return
			}
			fs := newFlags("train")
			var f trainFlags
			f.add(fs)
			if _, err := parseInterleaved(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			var err error
			if f.override, err = applyConfigFile(fs, f.config, setFlags(fs)); err != nil {
				t.Fatal(err)
			}
			f.set, f.given = setFlags(fs), map[string]string{}
			c, err := trainConfig(&f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
		})
	}
}

// TestSensitivityWritesConfig: sensitivity writes its chart and a run config
// into the run directory (never docs/results), and train -config reads it.
func TestSensitivityWritesConfig(t *testing.T) {
	requireMNIST(t)
	t.Chdir(t.TempDir())
	run := "runs/tiny"
	if code, out, errs := runCLI("train", "-model", "mlp", "-hidden", "32", "-max-steps", "30", "-o", run, "-log-format", "json"); code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs := runCLI("sensitivity", run, "-weights", "lsq:bits=2", "-budget", "3", "-limit", "200")
	if code != 0 {
		t.Fatalf("sensitivity: exit %d\n%s\n%s", code, out, errs)
	}
	cfgPath := filepath.Join(run, "mixed-precision.json")
	for _, p := range []string{filepath.Join(run, "sensitivity-model.png"), cfgPath} {
		if _, err := os.Stat(p); err != nil || !strings.Contains(out, "wrote "+p) {
			t.Errorf("%s: %v; output %q", p, err, out)
		}
	}
	if _, err := os.Stat("docs"); err == nil {
		t.Error("sensitivity wrote under docs/")
	}
	if code, out, errs := runCLI("train", "-config", cfgPath, "-max-steps", "3", "-o", "runs/mixed", "-log-format", "json"); code != 0 || !strings.Contains(out, "override=") {
		t.Fatalf("train -config: exit %d\n%s\n%s", code, out, errs)
	}
	ck, err := recipes.LoadCheckpoint("runs/mixed/model.ckpt")
	if err != nil || len(ck.Model.Override) == 0 {
		t.Fatalf("the mixed run's checkpoint has no overrides: %v", err)
	}
}
