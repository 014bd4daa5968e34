package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchTrainCLI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results", "train-speed.md")
	code, stdout, stderr := runCLI("bench", "train", "-models", "lenet5", "-recipes", "fp,xnor", "-batch", "4",
		"-rounds", "1", "-steps", "1", "-warmup", "1", "-torch", "", "-inprocess", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Training-step speed", "| fp | lenet5 | 4 | 1×1 |", "| xnor | lenet5 |", "## Targets (issue 3)", "PyTorch: not run"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	if stdout != string(b) {
		t.Error("stdout differs from the report file")
	}
	if code, _, _ := runCLI("bench", "train", "-child", "-models", "lenet5,mlp", "-recipes", "fp"); code == 0 {
		t.Error("-child with two models succeeded")
	}
}

func TestBenchKernelsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("times the ResNet-18 shapes")
	}
	out := filepath.Join(t.TempDir(), "kernels.md")
	code, _, stderr := runCLI("bench", "kernels", "-rounds", "1", "-sample", "1ms", "-networks", "", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Packed kernels against float32 GEMM", "| 512×49×4608 |", "| 7×7×512→512 |", "## Targets (issue 5)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
