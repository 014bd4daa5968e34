package recipes

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
)

func classFolder(t *testing.T, classes ...string) *datasets.Folder {
	t.Helper()
	dir := t.TempDir()
	for _, c := range classes {
		os.MkdirAll(filepath.Join(dir, c), 0o755)
		f, err := os.Create(filepath.Join(dir, c, "0.png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, image.NewGray(image.Rect(0, 0, 4, 4)))
		f.Close()
	}
	ds, err := datasets.ImageFolder(dir, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestFitSpecRecordsClassNames: the spec (and so the checkpoint) takes the
// training split's class list; a resumed spec with another list is refused.
func TestFitSpecRecordsClassNames(t *testing.T) {
	s := models.Spec{Name: "mlp"}
	if err := fitSpec(&s, classFolder(t, "cat", "dog")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.ClassNames, ",") != "cat,dog" {
		t.Fatalf("class names %v", s.ClassNames)
	}
	if err := fitSpec(&s, classFolder(t, "ant", "bee")); err == nil || !strings.Contains(err.Error(), "[cat dog]") {
		t.Fatalf("another class list: %v", err)
	}
}

// TestRunRefusesOutOfRangeLabels: a label outside the model's classes is a
// clear error, not an internal Gorgonia VM failure.
func TestRunRefusesOutOfRangeLabels(t *testing.T) {
	m, err := models.New(models.Spec{Name: "mlp", Hidden: []int{4}, Input: []int{2, 2, 1}, Classes: 2})
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(m, 2, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	for _, y := range [][]int32{{0, 2}, {-1, 0}} {
		if err := net.Run(make([]float32, 8), y, 2); err == nil || !strings.Contains(err.Error(), "outside the 2 classes") {
			t.Errorf("labels %v: %v", y, err)
		}
	}
	if err := net.Run(make([]float32, 8), []int32{0, 1}, 2); err != nil {
		t.Error(err)
	}
}
