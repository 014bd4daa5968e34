package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

// writeCheckpoint saves the xnor recipe's LeNet-5 with its initial weights.
func writeCheckpoint(t *testing.T, path string) {
	t.Helper()
	r, err := recipes.Lookup("xnor")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(r.Config("lenet5", "mnist").Model)
	if err != nil {
		t.Fatal(err)
	}
	ck := &recipes.Checkpoint{Model: m.Spec, Recipe: "xnor", Dataset: "mnist", Optimizer: "adam"}
	for _, p := range m.Params() {
		ck.Tensors = append(ck.Tensors, recipes.TensorInfo{Name: p.Name, Shape: p.Value.Shape().Clone()})
		ck.Data = append(ck.Data, p.Data())
	}
	for _, s := range m.States() {
		ck.Tensors = append(ck.Tensors, recipes.TensorInfo{Name: s.Name, Shape: []int{len(s.Data)}})
		ck.Data = append(ck.Data, s.Data)
	}
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}
}

// writeLabelledIDX writes n 28×28 images and their labels (gzip).
func writeLabelledIDX(t *testing.T, dir string, n int) string {
	t.Helper()
	gz := func(name string, b []byte) {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b)
		w.Close()
		if err := os.WriteFile(filepath.Join(dir, name), z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var img, lab bytes.Buffer
	binary.Write(&img, binary.BigEndian, []uint32{0x803, uint32(n), 28, 28})
	binary.Write(&lab, binary.BigEndian, []uint32{0x801, uint32(n)})
	for i := 0; i < n; i++ {
		px := make([]byte, 28*28)
		for j := range px {
			px[j] = byte((i*31 + j*7) % 256)
		}
		img.Write(px)
		lab.WriteByte(byte(i % 10))
	}
	gz("t10k-images-idx3-ubyte.gz", img.Bytes())
	gz("t10k-labels-idx1-ubyte.gz", lab.Bytes())
	return filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
}

func TestExportInferSummary(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "xnor.ckpt")
	writeCheckpoint(t, ckpt)
	model := filepath.Join(dir, "xnor.lbq")

	code, out, errOut := runCLI("export", ckpt, "-o", model)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"conv5", "xnor", "size on disk", "fp32", "smaller"} {
		if !strings.Contains(out, want) {
			t.Errorf("export output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI("summary", model)
	if code != 0 || !strings.Contains(out, "dense10") || !strings.Contains(out, "recipe xnor") {
		t.Fatalf("summary: exit %d: %s%s", code, out, errOut)
	}

	images := writeLabelledIDX(t, dir, 30)
	code, out, errOut = runCLI("infer", model, images)
	if code != 0 || !strings.Contains(out, "accuracy") || !strings.Contains(out, "/30)") {
		t.Fatalf("infer IDX: exit %d: %s%s", code, out, errOut)
	}

	// A 40×40 RGB PNG is turned gray, resized and cropped to 28×28.
	pic := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 40; x++ {
			pic.Set(x, y, color.RGBA{uint8(6 * x), uint8(6 * y), 0, 255})
		}
	}
	var pb bytes.Buffer
	png.Encode(&pb, pic)
	pngPath := filepath.Join(dir, "digit.png")
	os.WriteFile(pngPath, pb.Bytes(), 0o644)
	code, out, errOut = runCLI("infer", model, pngPath, "-top", "3")
	if code != 0 || !strings.Contains(out, "3. class") || strings.Contains(out, "4. class") {
		t.Fatalf("infer PNG: exit %d: %s%s", code, out, errOut)
	}

	// Faults are one-line errors naming the file.
	os.WriteFile(filepath.Join(dir, "bad.lbq"), []byte("LBQMODEL garbage"), 0o644)
	code, _, errOut = runCLI("summary", filepath.Join(dir, "bad.lbq"))
	if code != 1 || !strings.Contains(errOut, "bad.lbq") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("summary of a bad file: exit %d, stderr %q", code, errOut)
	}
	os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if code, _, errOut = runCLI("infer", model, images); code != 1 || !strings.Contains(errOut, "labels") {
		t.Errorf("infer without labels: exit %d, stderr %q", code, errOut)
	}
}
