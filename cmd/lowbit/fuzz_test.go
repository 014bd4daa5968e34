package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
)

// tinyPacked is a 4×4×1 → 2 float model for infer tests.
func tinyPacked(t testing.TB) *bitpack.Model {
	m, err := bitpack.NewModel(bitpack.Spec{Input: []int{4, 4, 1}, Classes: 2, Layers: []bitpack.LayerSpec{
		{Kind: bitpack.LayerFlatten, Name: "f"},
		{Kind: bitpack.LayerDense, Name: "d", Kernel: bitpack.KernelFloat, In: 16, Out: 2,
			Weights: bitpack.WeightSpec{Enc: bitpack.WeightsF32, Float: make([]float32, 32)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inferSeeds(t testing.TB) [][]byte {
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 4, 4)))
	idx := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []uint32{2, 4, 4} {
		idx = binary.BigEndian.AppendUint32(idx, d)
	}
	idx = append(idx, make([]byte, 32)...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(idx)
	zw.Close()
	return [][]byte{img.Bytes(), idx, gz.Bytes(), {0xff, 0xd8, 0xff, 0xe0}, []byte("hello")}
}

// FuzzInferInput: any input file is told apart (image, IDX or an error)
// and run on a tiny model without a panic.
func FuzzInferInput(f *testing.F) {
	for _, s := range inferSeeds(f) {
		f.Add(s)
	}
	m := tinyPacked(f)
	dir := f.TempDir()
	labels := binary.BigEndian.AppendUint32(nil, 0x801)
	labels = binary.BigEndian.AppendUint32(labels, 2)
	labels = append(labels, 0, 1)
	if err := os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), labels, 0o644); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "t10k-images-idx3-ubyte")
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, err := sniffInput(data[:min(len(data), 4096)], path)
		if err == nil && kind != inputImage && kind != inputIDX {
			t.Fatalf("kind %q", kind)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		inferInput(m, path, 2, io.Discard)
	})
}

func TestInferInputDetection(t *testing.T) {
	dir := t.TempDir()
	m := tinyPacked(t)
	for i, want := range []string{inputImage, inputIDX, inputIDX, inputImage, ""} {
		got, err := sniffInput(inferSeeds(t)[i], filepath.Join(dir, "x"))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("seed %d: %q, %v; want %q", i, got, err, want)
		}
	}
	for _, p := range []string{"/dev/zero", dir} {
		if err := inferInput(m, p, 1, io.Discard); err == nil {
			t.Errorf("inferInput(%s) succeeded", p)
		}
	}
}
