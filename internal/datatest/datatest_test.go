package datatest

import (
	"path/filepath"
	"testing"
)

func TestFindSharedData(t *testing.T) {
	if p := FindSharedData(filepath.Join("no", "such", "dataset")); p != "" {
		t.Errorf("FindSharedData(missing) = %q, want \"\"", p)
	}
	p := FindSharedData("")
	if p == "" {
		Missing(t, "no shared/data above the working directory")
	}
	if filepath.Base(p) != "data" {
		t.Errorf("FindSharedData(\"\") = %q, want a shared/data folder", p)
	}
}

func TestRequire(t *testing.T) {
	Require(t, ".") // exists: neither skips nor fails
}

// fakeTB records Skipf and Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestMissing(t *testing.T) {
	tests := []struct {
		env             string
		skipped, failed bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	}
	for _, tt := range tests {
		t.Run("LOWBIT_REQUIRE_DATA="+tt.env, func(t *testing.T) {
			t.Setenv("LOWBIT_REQUIRE_DATA", tt.env)
			for _, call := range []func(testing.TB){
				func(tb testing.TB) { Require(tb, filepath.Join(t.TempDir(), "absent")) },
				func(tb testing.TB) { SharedData(tb, filepath.Join("no", "such", "dataset")) },
			} {
				f := &fakeTB{TB: t}
				call(f)
				if f.skipped != tt.skipped || f.failed != tt.failed {
					t.Errorf("skipped %v failed %v, want %v %v", f.skipped, f.failed, tt.skipped, tt.failed)
				}
			}
		})
	}
}
