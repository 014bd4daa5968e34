package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestQuantizeCLI: the README's main job (LeNet-5 on MNIST, full precision), trained
// briefly, quantized to W8A8 and W4A8 with AdaRound, evaluated and exported to the
// packed engine's int8 kernel; bad command lines exit 2, bad calibration sets 1.
func TestQuantizeCLI(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "fp.ckpt")
	if code, _, errs := runCLI("train", "-max-steps", "40", "-out", fp, "-log-format", "json"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"w8a8-max", []string{"-calib", "200"}, "w=lsq(bits=8) a=lsq(bits=8)"},
		{"w4a8-adaround", []string{"-calib", "100", "-weights", "lsq:bits=4", "-method", "entropy", "-per-channel", "-adaround", "-ada-iters", "30", "-bias-correct"}, "w=scaled(bits=4,method=learned,perchannel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := filepath.Join(dir, tc.name+".ckpt")
			args := append([]string{"quantize", fp, "-eval=false", "-o", q}, tc.args...)
			code, out, errs := runCLI(args...)
			if code != 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "conv5") {
				t.Fatalf("quantize: exit %d\n%s\n%s", code, out, errs)
			}
			if code, out, errs = runCLI("eval", q, "-limit", "500"); code != 0 || !strings.Contains(out, "test accuracy") {
				t.Fatalf("eval: exit %d\n%s\n%s", code, out, errs)
			}
			if code, out, errs = runCLI("export", q, "-o", filepath.Join(dir, tc.name+".lbq")); code != 0 || !strings.Contains(out, "int8") {
				t.Fatalf("export: exit %d\n%s\n%s", code, out, errs)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no checkpoint", []string{}, 2, "want one checkpoint"},
		{"bad method", []string{fp, "-method", "kl"}, 2, "method"},
		{"binary weights", []string{fp, "-weights", "xnor"}, 2, "lsq:bits=B"},
		{"empty calibration", []string{fp, "-calib", "0"}, 1, "empty"},
		{"quantized source", []string{filepath.Join(dir, "w8a8-max.ckpt")}, 1, "already quantized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(append([]string{"quantize", "-eval=false", "-o", filepath.Join(dir, "x.ckpt")}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
}

// TestQuantizePyTorchFile: a PyTorch state_dict quantizes like the lowbit
// checkpoint it came from. The checkpoint is converted to safetensors
// (PyTorch's names and layouts), then both are quantized W8A8 with the same
// calibration sample: the test accuracies must be equal.
func TestQuantizePyTorchFile(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "fp.ckpt")
	st := filepath.Join(dir, "fp.safetensors")
	if code, _, errs := runCLI("train", "-max-steps", "40", "-o", fp, "-log-format", "json"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI("convert", fp, "-o", st); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errs)
	}
	acc := func(args ...string) string {
		t.Helper()
		code, out, errs := runCLI(append([]string{"quantize", "-calib", "200"}, args...)...)
		if code != 0 {
			t.Fatalf("quantize %v: exit %d\n%s\n%s", args, code, out, errs)
		}
		i := strings.Index(out, "test accuracy")
		if i < 0 {
			t.Fatalf("quantize %v printed no test accuracy:\n%s", args, out)
		}
		return strings.TrimSpace(strings.SplitN(out[i:], "\n", 2)[0])
	}
	fromCkpt := acc(fp, "-o", filepath.Join(dir, "a.ckpt"))
	fromTorch := acc(st, "-model", "lenet5", "-dataset", "mnist", "-o", filepath.Join(dir, "b.ckpt"))
	t.Logf("from the checkpoint: %s; from safetensors: %s", fromCkpt, fromTorch)
	if fromCkpt != fromTorch {
		t.Errorf("quantized from the checkpoint: %s; from its safetensors export: %s", fromCkpt, fromTorch)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"model without dataset", []string{st, "-model", "lenet5"}},
		{"unknown model", []string{st, "-model", "nope", "-dataset", "mnist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, errs := runCLI(append([]string{"quantize", "-eval=false", "-o", filepath.Join(dir, "x.ckpt")}, tc.args...)...); code != 2 {
				t.Errorf("exit %d (%s), want 2", code, errs)
			}
		})
	}
}
