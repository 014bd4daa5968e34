//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteModeFollowsUmask: files are 0644 less the umask, as os.Create
// makes them, not os.CreateTemp's 0600.
func TestWriteModeFollowsUmask(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ umask, want os.FileMode }{{0o022, 0o644}, {0o077, 0o600}, {0o002, 0o644}} {
		old := syscall.Umask(int(tc.umask))
		path := filepath.Join(dir, "f"+tc.umask.String())
		err := Write(path, []byte("x"))
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != tc.want {
			t.Errorf("umask %o: mode %v (%v), want %v", tc.umask, fi.Mode().Perm(), err, tc.want)
		}
	}
}
