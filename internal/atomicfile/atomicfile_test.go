package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.bin")
	for _, data := range []string{"first", "second, longer"} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "sub", ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := Write(filepath.Join(path, "under-a-file"), nil); err == nil {
		t.Error("writing below a regular file: no error")
	}
}

// TestPrepare: Prepare removes the temp files killed writes of the path left
// (and only those), and refuses paths that cannot be written.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.ckpt")
	stale := []string{".run.ckpt.tmp123", ".run.ckpt.tmp9999999"}
	keep := []string{".other.ckpt.tmp1", "run.ckpt.bak", ".run.ckpt"}
	for _, n := range append(stale, keep...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	if err := Prepare(path); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s left", n)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed", n)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("Prepare created the file itself")
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, bad := range []string{filepath.Join(file, "x.ckpt"), dir} {
		if err := Prepare(bad); err == nil {
			t.Errorf("Prepare(%s): no error", bad)
		}
	}
}

// TestPrepareLeavesNothing: the probe of a path in missing directories
// removes the directories it made, so a run failing afterwards leaves no trace.
func TestPrepareLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Prepare(filepath.Join(dir, "a", "b", "x.ckpt")); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Prepare left %d entries, e.g. %s", len(ents), ents[0].Name())
	}
	if err := Write(filepath.Join(dir, "a", "b", "x.ckpt"), []byte("x")); err != nil {
		t.Fatalf("Write after Prepare: %v", err)
	}
}
