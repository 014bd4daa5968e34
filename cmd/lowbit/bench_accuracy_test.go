package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/datatest"
)

func needMNIST(t *testing.T) {
	t.Helper()
	if _, err := datasets.Open("mnist", "test", "", datasets.Options{}); errors.Is(err, datasets.ErrNotFound) {
		datatest.Missing(t, "%v", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// TestBenchAccuracyCLI runs a 2-recipe smoke grid, then again to see it skip both cells.
func TestBenchAccuracyCLI(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	args := []string{"bench", "accuracy", "-recipes", "fp,xnor", "-datasets", "mnist", "-max-steps", "5", "-eval-limit", "100",
		"-out", dir, "-ckpt", filepath.Join(dir, "ckpt"), "-log-format", "json"}
	code, out, errs := runCLI(args...)
	if code != 0 || !strings.Contains(out, "2 cells trained, 0 already finished") || !strings.Contains(out, "ordering mnist: FAIL") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, f := range []string{"accuracy.md", "accuracy.csv", "accuracy.png", "accuracy-runs.json", "ckpt/fp-mnist.ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	code, out, errs = runCLI(args...)
	if code != 0 || !strings.Contains(out, "0 cells trained, 2 already finished") {
		t.Fatalf("second run: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if code, _, errs := runCLI("bench", "accuracy", "-recipes", "no-such", "-out", dir); code == 0 || !strings.Contains(errs, "unknown recipe") {
		t.Errorf("unknown recipe: exit %d, stderr %s", code, errs)
	}
}

// TestSensitivityCLI trains a tiny MLP for 30 steps and scans it.
func TestSensitivityCLI(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "tiny.ckpt")
	if code, out, errs := runCLI("train", "-model", "mlp", "-hidden", "32", "-max-steps", "30", "-out", ckpt, "-log-format", "json"); code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, errs)
	}
	// The same checkpoint seeds an LSQ run (-init-from), and cannot seed an unrelated model.
	lsq := filepath.Join(dir, "lsq.ckpt")
	if code, out, errs := runCLI("train", "-model", "mlp", "-hidden", "32", "-weights", "lsq:bits=2", "-inputs", "lsq:bits=2",
		"-init-from", ckpt, "-max-steps", "5", "-out", lsq, "-log-format", "json"); code != 0 {
		t.Fatalf("train -init-from: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := runCLI("train", "-model", "lenet5", "-init-from", ckpt, "-max-steps", "1", "-out", filepath.Join(dir, "x.ckpt")); code == 0 || !strings.Contains(errs, "no tensor matches") {
		t.Errorf("-init-from an unrelated checkpoint: exit %d, stderr %s", code, errs)
	}
	png := filepath.Join(dir, "s.png")
	code, out, errs := runCLI("sensitivity", ckpt, "-weights", "lsq:bits=2", "-budget", "3", "-eval-limit", "200", "-out", png)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"dense2", "dense5", "suggested weight bits", "wrote " + png} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(png); err != nil {
		t.Error(err)
	}
	if code, _, errs := runCLI("sensitivity", ckpt); code == 0 || !strings.Contains(errs, "no quantizer") {
		t.Errorf("no -weights: exit %d, stderr %s", code, errs)
	}
}
