package datasets

import (
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writePNG writes an 8×8 PNG at path, creating its folder.
func writePNG(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
}

// folderTree writes root/<split>/<class>/0.png for each split → classes.
func folderTree(t *testing.T, splits map[string][]string) string {
	t.Helper()
	root := t.TempDir()
	for split, classes := range splits {
		for _, c := range classes {
			writePNG(t, filepath.Join(root, split, c, "0.png"))
		}
	}
	return root
}

func labels(ds Dataset) []int {
	f := ds.(*Folder)
	out := make([]int, f.Len())
	for i := range out {
		out[i] = f.Label(i)
	}
	return out
}

// TestValLabelsFollowTrain: a val split missing a class keeps the training
// labels (it used to renumber the others), and an unknown class is an error.
func TestValLabelsFollowTrain(t *testing.T) {
	root := folderTree(t, map[string][]string{"train": {"a", "b", "c"}, "val": {"c"}})
	val, err := Open("imagefolder", "val", root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := labels(val); len(got) != 1 || got[0] != 2 || val.NumClasses() != 3 {
		t.Fatalf("val/c labels %v of %d classes, want [2] of 3", got, val.NumClasses())
	}
	if got := val.(*Folder).ClassNames(); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("class names %v", got)
	}
	// The list stored in a checkpoint wins over the folders.
	val, err = Open("imagefolder", "val", root, Options{Classes: []string{"c", "b", "a", "d"}})
	if err != nil || labels(val)[0] != 0 || val.NumClasses() != 4 {
		t.Fatalf("with an explicit class list: %v", err)
	}

	root = folderTree(t, map[string][]string{"train": {"a", "b"}, "val": {"a", "b", "z"}})
	_, err = Open("imagefolder", "val", root, Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "class folder z is not in the training class list") {
		t.Fatalf("unknown val class: %v", err)
	}
}

// TestFolderSymlinks: symlinked class folders and images are followed; broken
// links and non-regular image names are errors naming them, never dropped.
func TestFolderSymlinks(t *testing.T) {
	root := folderTree(t, map[string][]string{"train": {"a"}, "elsewhere": {"b"}})
	train := filepath.Join(root, "train")
	if err := os.Symlink(filepath.Join(root, "elsewhere", "b"), filepath.Join(train, "b")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	if err := os.Symlink(filepath.Join(root, "elsewhere", "b", "0.png"), filepath.Join(train, "a", "1.png")); err != nil {
		t.Fatal(err)
	}
	f, err := ImageFolder(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := labels(f); f.NumClasses() != 2 || len(got) != 3 || got[2] != 1 {
		t.Fatalf("labels %v of %d classes, want 3 images of 2 classes (both links followed)", got, f.NumClasses())
	}
	for _, tc := range []struct {
		name string
		make func(dir string) error
		want string
	}{
		{"broken class link", func(dir string) error { return os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "c")) }, "broken symlink"},
		{"broken image link", func(dir string) error {
			return os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "a", "2.png"))
		}, "broken symlink"},
		{"fifo image", func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "a", "3.png"), 0o644) }, "not a regular file"},
		{"directory image", func(dir string) error { return os.Mkdir(filepath.Join(dir, "a", "4.png"), 0o755) }, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writePNG(t, filepath.Join(dir, "a", "0.png"))
			if err := tc.make(dir); err != nil {
				t.Skip(err)
			}
			_, err := ImageFolder(dir, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want %q naming the path", err, tc.want)
			}
		})
	}
}
