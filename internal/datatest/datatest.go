// Package datatest holds test helpers for tests that read real data sets
// which may be absent: such a test skips with a message, or fails when the
// environment variable LOWBIT_REQUIRE_DATA is 1 (as in CI, where the data
// is provisioned).
package datatest

import (
	"os"
	"path/filepath"
	"testing"
)

// Required reports whether LOWBIT_REQUIRE_DATA=1, so missing data fails tests.
func Required() bool { return os.Getenv("LOWBIT_REQUIRE_DATA") == "1" }

// Missing skips t with the message, or fails it when data is required.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("LOWBIT_REQUIRE_DATA=1 but data is missing: "+format, args...)
		return
	}
	t.Skipf("data missing (set LOWBIT_REQUIRE_DATA=1 to fail instead): "+format, args...)
}

// Require skips (or fails, see Missing) t unless path exists.
func Require(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%v", err)
	}
}

// FindSharedData walks up from the working directory and returns the first
// <dir>/shared/data/<sub> that exists (../shared/data next to the module
// root is found this way), or "" when there is none.
func FindSharedData(sub string) string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "data", sub)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// SharedData returns shared/data/<sub> found by FindSharedData, skipping
// (or failing, see Missing) t when it is absent.
func SharedData(t testing.TB, sub string) string {
	t.Helper()
	p := FindSharedData(sub)
	if p == "" {
		Missing(t, "shared/data/%s not found in the working directory or any parent", sub)
	}
	return p
}
