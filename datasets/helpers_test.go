package datasets

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeFile decodes an image file for the independent reference values.
func decodeFile(t testing.TB, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// rgb8 returns the 8-bit RGB of pixel (x, y) through the colour model.
func rgb8(img image.Image, x, y int) [3]uint8 {
	b := img.Bounds()
	r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
}

// copyTree copies the regular files under src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is non-nil and contains every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// allExamples runs Example over the whole dataset with a nil rng.
func allExamples(t testing.TB, ds Dataset) ([]float32, []int) {
	t.Helper()
	h, w, c := ds.Shape()
	size := h * w * c
	x := make([]float32, ds.Len()*size)
	y := make([]int, ds.Len())
	for i := range ds.Len() {
		l, err := ds.Example(i, x[i*size:(i+1)*size], nil)
		if err != nil {
			t.Fatal(err)
		}
		y[i] = l
	}
	return x, y
}
