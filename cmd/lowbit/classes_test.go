package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/recipes"
)

// TestClassNamesTravel: an ImageFolder run stores its training class list in
// the checkpoint and the exported model file, and eval labels a val folder
// that lacks a class by that list (it used to renumber the classes left).
func TestClassNamesTravel(t *testing.T) {
	data := filepath.Join(t.TempDir(), "folder")
	writeImageFolder(t, data, 6) // classes a and b in train and val
	dir := t.TempDir()
	ck := filepath.Join(dir, "f.ckpt")
	checkCLI(t, "", nil, 0, []string{"train", "-dataset", "imagefolder", "-data", data, "-model", "mlp", "-hidden", "4",
		"-batch", "2", "-epochs", "1", "-out", ck})
	c, err := recipes.LoadCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Model.ClassNames, ","); got != "a,b" {
		t.Fatalf("checkpoint class names %q, want a,b", got)
	}
	lbq := filepath.Join(dir, "f.lbq")
	checkCLI(t, "", nil, 0, []string{"export", ck, "-o", lbq})
	bm, err := bitpack.Load(lbq)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(bm.Info().ClassNames, ","); got != "a,b" {
		t.Fatalf("model file class names %q, want a,b", got)
	}
	// A val folder holding only class b: its label must stay 1, so the
	// accuracy is the model's on b, and an unknown class is refused.
	if err := os.RemoveAll(filepath.Join(data, "val", "a")); err != nil {
		t.Fatal(err)
	}
	checkCLI(t, "", nil, 0, []string{"eval", "-data", data, ck})
	if err := os.Rename(filepath.Join(data, "val", "b"), filepath.Join(data, "val", "z")); err != nil {
		t.Fatal(err)
	}
	checkCLI(t, "", nil, 1, []string{"eval", "-data", data, ck}, "class folder z is not in")
}
