package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestCLIConventions checks exit codes and usage text of the Go CLI conventions (issue 15 item 4).
func TestCLIConventions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		out, errs string // substrings of stdout and stderr ("" for no check)
	}{
		{"stray argument to train", []string{"train", "help"}, 2, "", `unexpected argument "help"`},
		{"help train", []string{"help", "train"}, 0, "usage: lowbit train [flags]", ""},
		{"help train lists flags", []string{"help", "train"}, 0, "-epochs", ""},
		{"help eval shows positionals", []string{"help", "eval"}, 0, "usage: lowbit eval [flags] CKPT|RUNDIR", ""},
		{"help bench accuracy", []string{"help", "bench", "accuracy"}, 0, "usage: lowbit bench accuracy", ""},
		{"help unknown", []string{"help", "frobnicate"}, 2, "", "frobnicate"},
		{"eval -h shows positionals", []string{"eval", "-h"}, 0, "", "usage: lowbit eval [flags] CKPT|RUNDIR"},
		{"export -h shows positionals", []string{"export", "-h"}, 0, "", "CKPT|RUNDIR"},
		{"sensitivity -h", []string{"sensitivity", "-h"}, 0, "", "usage: lowbit sensitivity [flags] CKPT|RUNDIR"},
		{"recipes -h", []string{"recipes", "-h"}, 0, "", "usage: lowbit recipes [show NAME]"},
		{"recipes stray", []string{"recipes", "bogus"}, 2, "", "bogus"},
		{"recipes show no name", []string{"recipes", "show"}, 2, "", "show NAME"},
		{"recipes unknown flag", []string{"recipes", "-bogus"}, 2, "", "-bogus"},
		{"bench -h", []string{"bench", "-h"}, 0, "", "usage: lowbit bench"},
		{"bare bench", []string{"bench"}, 2, "", "usage: lowbit bench"},
		{"unknown bench", []string{"bench", "nope"}, 2, "", "nope"},
		{"bench kernels unknown flag", []string{"bench", "kernels", "-bogus"}, 2, "", "-bogus"},
		{"bench train stray", []string{"bench", "train", "x"}, 2, "", "unexpected"},
		{"train unknown flag", []string{"train", "-bogus"}, 2, "", "-bogus"},
		{"eval unknown flag", []string{"eval", "-bogus", "x.ckpt"}, 2, "", "-bogus"},
		{"eval no argument", []string{"eval"}, 2, "", "checkpoint"},
		{"version", []string{"version"}, 0, "lowbit ", ""},
		{"version stray", []string{"version", "x"}, 2, "", "unexpected"},
		{"version -h", []string{"version", "-h"}, 0, "", "usage: lowbit version"},
		{"train -out alias is deprecated", []string{"train", "-h"}, 0, "", "deprecated: use -o"},
		{"sensitivity -eval-limit alias", []string{"sensitivity", "-h"}, 0, "", "-limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out, errs)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout %q lacks %q", out, tc.out)
			}
			if !strings.Contains(errs, tc.errs) {
				t.Errorf("stderr %q lacks %q", errs, tc.errs)
			}
		})
	}
}

// TestAliasesShareValue checks that a deprecated flag name sets the new one.
func TestAliasesShareValue(t *testing.T) {
	for _, old := range []string{"-out", "-o"} {
		fs := newFlags("train")
		var f trainFlags
		f.add(fs)
		if err := fs.Parse([]string{old, "x.ckpt"}); err != nil {
			t.Fatal(err)
		}
		if f.out != "x.ckpt" {
			t.Errorf("%s x.ckpt: out = %q", old, f.out)
		}
	}
}

func TestVersionLine(t *testing.T) {
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "v0.3.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-04T10:00:00Z"}}},
			"lowbit v0.3.0 (abc123, 2026-12-04T10:00:00Z) go1.26"},
		{debug.BuildInfo{GoVersion: "go1.26", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"lowbit (devel) (abc+dirty) go1.26"},
		{debug.BuildInfo{GoVersion: "go1.26"}, "lowbit (devel) (unknown revision) go1.26"},
	} {
		if got := versionLine(&tc.bi); got != tc.want {
			t.Errorf("versionLine = %q, want %q", got, tc.want)
		}
	}
}
