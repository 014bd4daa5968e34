package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

// TestCheckpointAnyBatch trains a narrow ResNet-20 for a few steps on the real
// CIFAR-10 JPEGs at batch 16, then evaluates the checkpoint with no model flags at
// batch sizes 7 and 50: the accuracy and loss must not depend on the batch size.
func TestCheckpointAnyBatch(t *testing.T) {
	data := datatest.SharedData(t, "cifar10")
	ckpt := filepath.Join(t.TempDir(), "r20.ckpt")
	code, out, errs := runCLI("train", "-dataset", "cifar10", "-data", data, "-model", "resnet20", "-width", "0.25",
		"-batch", "16", "-epochs", "1", "-max-steps", "3", "-out", ckpt, "-log-format", "json")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, errs)
	}
	// Folders are in class order: 250 examples span two classes.
	line := regexp.MustCompile(`test accuracy [0-9.]+% \(loss [0-9.]+, 250 examples\)`)
	var got []string
	for _, b := range []string{"7", "50", "250"} {
		code, out, errs := runCLI("eval", ckpt, "-data", data, "-batch", b, "-limit", "250")
		if code != 0 {
			t.Fatalf("eval -batch %s: exit %d\n%s", b, code, errs)
		}
		if !strings.HasPrefix(out, "resnet20 ") {
			t.Errorf("eval -batch %s: %q does not name the checkpoint's model", b, out)
		}
		m := line.FindString(out)
		if m == "" {
			t.Fatalf("eval -batch %s: unexpected output %q", b, out)
		}
		got = append(got, m)
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Errorf("evaluation depends on the batch size: %q", got)
	}
}

// TestBenchImageNetCIFAR runs the benchmark end to end on the real CIFAR-10 JPEGs
// (train, then evaluate the written checkpoint) and on CIFAR binary batches.
func TestBenchImageNetCIFAR(t *testing.T) {
	data := datatest.SharedData(t, "cifar10")
	dir := t.TempDir()
	report, ckpt := filepath.Join(dir, "report.md"), filepath.Join(dir, "r20.ckpt")
	code, out, errs := runCLI("bench", "imagenet", "-dataset", "cifar10", "-data", data, "-model", "resnet20", "-width", "0.25",
		"-recipe", "xnor", "-train", "-epochs", "1", "-max-steps", "2", "-batch", "16", "-eval-limit", "64", "-probe", "2",
		"-save", ckpt, "-out", report, "-log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# ImageNet-style benchmark: resnet20, recipe xnor, on cifar10", "| test | 64 |",
		"| loader alone |", "| training step |", "| graph eval |", "| packed engine |", "Peak RSS", "Loader bottleneck: "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	// The checkpoint alone names model and recipe.
	code, out, errs = runCLI("bench", "imagenet", "-dataset", "cifar10", "-data", data, "-ckpt", ckpt, "-eval-limit", "32", "-probe", "1", "-out", "-")
	if code != 0 {
		t.Fatalf("from the checkpoint: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "resnet20, recipe xnor") || !strings.Contains(out, "| test | 32 |") {
		t.Errorf("checkpoint report:\n%s", out)
	}

	bin := filepath.Join("..", "..", "datasets", "testdata", "cifar10-bin")
	code, out, errs = runCLI("bench", "imagenet", "-dataset", "cifar10", "-data", bin, "-model", "resnet20", "-width", "0.25",
		"-train", "-max-steps", "1", "-batch", "4", "-probe", "1", "-save", filepath.Join(dir, "bin.ckpt"), "-out", "-", "-log-format", "json")
	if code != 0 {
		t.Fatalf("binary batches: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "12 train, 6 test") {
		t.Errorf("binary report:\n%s", out)
	}
}

func TestBenchImageNetFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "imagenet"}, "-train"},
		{[]string{"bench", "imagenet", "-train", "-dataset", "mnist"}, "mnist"},
		{[]string{"bench", "imagenet", "-train", "-width", "0"}, "-width"},
		{[]string{"bench", "imagenet", "-train", "-lr", "-1"}, "-lr"},
		{[]string{"bench", "imagenet", "-train", "-lr", "NaN"}, "-lr"},
		{[]string{"bench", "imagenet", "-train", "-dataset", "cifar10", "-setup", "nope"}, `unknown setup "nope"`},
		{[]string{"bench", "imagenet", "-train", "-dataset", "imagenette", "-setup", "cifar"}, "not dataset imagenette"},
	} {
		code, _, errs := runCLI(tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %q", tc.args, code, errs, tc.want)
		}
	}
}
