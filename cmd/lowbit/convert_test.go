package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// TestInitFromConvert runs the README's path: train from a PyTorch state_dict,
// convert the checkpoint back, and reads the export into a fresh model, which must
// hold the checkpoint's tensors exactly. Mismatched PyTorch files fail strictly and
// warn with -strict=false.
func TestInitFromConvert(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	fixtures := filepath.Join("..", "..", "interop", "torch", "testdata")
	ckpt := filepath.Join(dir, "ft.ckpt")
	code, _, errOut := runCLI("train", "-init-from", filepath.Join(fixtures, "lenet5.pt"), "-max-steps", "3", "-epochs", "1", "-out", ckpt, "-log-format", "json")
	if code != 0 {
		t.Fatalf("train -init-from lenet5.pt: exit %d: %s", code, errOut)
	}
	out := filepath.Join(dir, "ft.safetensors")
	code, stdout, errOut := runCLI("convert", ckpt, "-o", out)
	if code != 0 || !strings.Contains(stdout, "20 tensors") {
		t.Fatalf("convert: exit %d: %s%s", code, stdout, errOut)
	}
	ck, err := recipes.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ck.Restore()
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.New(models.Spec{Name: "lenet5", Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := torch.LoadFile(got, out, true); err != nil {
		t.Fatal(err)
	}
	for i, p := range want.Params() {
		g := got.Params()[i].Data()
		for j, v := range p.Data() {
			if g[j] != v {
				t.Fatalf("%s[%d] = %v after convert and import, want %v", p.Name, j, g[j], v)
			}
		}
	}

	r20 := filepath.Join(fixtures, "resnet20.safetensors")
	code, _, errOut = runCLI("train", "-init-from", r20, "-max-steps", "1", "-out", filepath.Join(dir, "x.ckpt"))
	if code != 1 || !strings.Contains(errOut, "resnet20.safetensors") || !strings.Contains(errOut, "layer1.0.conv1.weight") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("train -init-from a ResNet-20 file into LeNet-5: exit %d, stderr %q; want one line naming the file and the tensors", code, errOut)
	}
	// At width 0.5 only fc2.bias keeps its shape: -strict=false loads it (and warns;
	// recipes.TestInitFromPyTorch checks the warning) where the default fails.
	half := filepath.Join(dir, "half.ckpt")
	args := []string{"train", "-init-from", filepath.Join(fixtures, "lenet5.safetensors"), "-width", "0.5", "-max-steps", "1", "-epochs", "1", "-out", half, "-log-format", "json"}
	if code, _, errOut = runCLI(args...); code != 1 || !strings.Contains(errOut, "16 mis-shaped") {
		t.Errorf("strict, width 0.5: exit %d, stderr %q; want 16 mis-shaped tensors", code, errOut)
	}
	if code, _, errOut = runCLI(append(args, "-strict=false")...); code != 0 {
		t.Fatalf("-strict=false: exit %d: %s", code, errOut)
	}
	sd, err := torch.ReadFile(filepath.Join(fixtures, "lenet5.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ck, err = recipes.LoadCheckpoint(half); err != nil {
		t.Fatal(err)
	}
	m, err := ck.Restore()
	if err != nil {
		t.Fatal(err)
	}
	back, err := torch.Export(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One Adam step moves each value by about the learning rate, 1e-3.
	g, w := back.Tensors["fc2.bias"].Data, sd.Tensors["fc2.bias"].Data
	for i := range w {
		if math.Abs(float64(g[i]-w[i])) > 2e-3 {
			t.Fatalf("-strict=false: fc2.bias = %v after one step, want about %v", g, w)
		}
	}
}
