// Package atomicfile writes files so that a crash at any moment leaves either
// the old file or the new one at the path, never a torn mix: the data goes to
// a temporary file in the same directory, is synced, renamed over the path,
// and the directory is synced. Files are created with mode 0644 minus the
// umask, as os.Create would.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// Write replaces path with data atomically, creating its directory if needed.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Prepare checks, before any work, that Write(path, …) can succeed: it refuses
// a path that is a directory, removes the temporary files of earlier writes
// of path that were killed before their rename, and creates and removes a
// temporary file, creating path's missing directories for the probe and
// removing them again (Write creates them), so a run that fails later leaves
// nothing behind. Two processes must not write one path at once.
func Prepare(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("writing %s: it is a directory", path)
	}
	var created []string // missing directories, deepest first
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	defer func() {
		for _, d := range created {
			os.Remove(d) // empty unless another process wrote there; then it stays
		}
	}()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := CleanStale(path); err != nil {
		return err
	}
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// CleanStale removes the temporary files that killed writes of path left.
func CleanStale(path string) error {
	left, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPrefix(path)+"*"))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing a stale temporary file: %w", err)
		}
	}
	return nil
}

func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp" }

var tempSeq atomic.Uint64

// createTemp creates a new file next to path with mode 0644 (less the umask),
// unlike os.CreateTemp's 0600.
func createTemp(path string) (*os.File, error) {
	base := filepath.Join(filepath.Dir(path), tempPrefix(path))
	for range 100 {
		n := uint64(time.Now().UnixNano()) ^ tempSeq.Add(1)<<40 ^ uint64(os.Getpid())<<20
		f, err := os.OpenFile(base+strconv.FormatUint(n%1e12, 10), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("could not create a unique temporary file for %s", path)
}
