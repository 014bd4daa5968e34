package datasets

import (
	"errors"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name, split, dir string
		n, h, w, c       int
		classes          int
	}{
		{"mnist", "train", "testdata/mnist", 100, 28, 28, 1, 10},
		{"fashion-mnist", "test", "testdata/fashion-mnist", 100, 28, 28, 1, 10},
		{"cifar10", "train", "testdata/cifar10-bin", 12, 32, 32, 3, 10},
		{"cifar10", "test", "testdata/cifar10", 6, 32, 32, 3, 3},
		{"imagenette", "train", "testdata/imagenette", 8, 224, 224, 3, 3},
		{"imagenette", "val", "testdata/imagenette", 3, 224, 224, 3, 3},
		{"imagenette", "test", "testdata/imagenette", 3, 224, 224, 3, 3},
		{"imagefolder", "train", "testdata/cifar10", 12, 224, 224, 3, 3}, // ImageNet presets
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.split, func(t *testing.T) {
			ds, err := Open(tt.name, tt.split, tt.dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			h, w, c := ds.Shape()
			if ds.Len() != tt.n || h != tt.h || w != tt.w || c != tt.c || ds.NumClasses() != tt.classes {
				t.Fatalf("len %d shape %dx%dx%d classes %d", ds.Len(), h, w, c, ds.NumClasses())
			}
			x := make([]float32, h*w*c)
			for i := range ds.Len() {
				if _, err := ds.Example(i, x, rngFor(uint64(i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ds.Example(ds.Len(), x, nil); !errors.Is(err, ErrIndex) {
				t.Errorf("Example(Len) = %v, want ErrIndex", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("svhn", "train", "", Options{})
	wantErr(t, err, `unknown dataset "svhn"`, "cifar10, cifar100, fashion-mnist, imagefolder, imagenette, mnist")
	_, err = Open("imagenette", "holdout", "testdata/imagenette", Options{})
	wantErr(t, err, `unknown split "holdout"`)
	_, err = Open("cifar10", "train", "testdata/imagenette/val", Options{})
	wantErr(t, err, "testdata/imagenette/val/train")
	_, err = Open("imagenette", "train", "testdata/imagenette", Options{Transform: &Pipeline{HFlip: 2}})
	wantErr(t, err, "flip probability")
}

// The full shared sets open by name with no directory.
func TestOpenShared(t *testing.T) {
	tests := []struct {
		name, split string
		n           int
	}{
		{"cifar10", "train", 10000},
		{"cifar10", "test", 2000},
		{"imagenette", "train", 2000},
		{"imagenette", "val", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.split, func(t *testing.T) {
			datatest.SharedData(t, tt.name)
			ds, err := Open(tt.name, tt.split, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != tt.n || ds.NumClasses() != 10 {
				t.Errorf("len %d classes %d", ds.Len(), ds.NumClasses())
			}
		})
	}
}
