package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/datatest"
)

// runCLI runs one command line in-process and returns exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeIDX writes an IDX images file of n 28×28 images (gzip), truncated to keep bytes when keep > 0.
func writeIDX(t *testing.T, path string, magic uint32, n int, keep int) {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, uint32(n))
	if magic == 0x803 {
		binary.Write(&b, binary.BigEndian, uint32(28))
		binary.Write(&b, binary.BigEndian, uint32(28))
		b.Write(make([]byte, n*28*28))
	} else {
		b.Write(make([]byte, n))
	}
	raw := b.Bytes()
	if keep > 0 {
		raw = raw[:keep]
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(raw)
	w.Close()
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputOneLine(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc")
	os.MkdirAll(trunc, 0o755)
	writeIDX(t, filepath.Join(trunc, "train-images-idx3-ubyte.gz"), 0x803, 100, 5000)
	writeIDX(t, filepath.Join(trunc, "train-labels-idx1-ubyte.gz"), 0x801, 100, 0)
	magic := filepath.Join(dir, "magic")
	os.MkdirAll(magic, 0o755)
	writeIDX(t, filepath.Join(magic, "train-images-idx3-ubyte.gz"), 0x1234, 100, 0)
	writeIDX(t, filepath.Join(magic, "train-labels-idx1-ubyte.gz"), 0x801, 100, 0)
	corrupt := filepath.Join(dir, "corrupt.ckpt")
	os.WriteFile(corrupt, []byte("LBCKPT\x00\x01garbage that is long enough to parse a header"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the one error line
	}{
		{"truncated idx", []string{"train", "-data", trunc, "-max-steps", "1"}, []string{"train-images-idx3-ubyte.gz", "truncated"}},
		{"wrong magic idx", []string{"train", "-data", magic, "-max-steps", "1"}, []string{"train-images-idx3-ubyte.gz", "magic"}},
		{"missing data dir", []string{"train", "-data", filepath.Join(dir, "nowhere"), "-max-steps", "1"}, []string{"nowhere"}},
		{"unknown quantizer", []string{"train", "-weights", "bogus:bits=2"}, []string{"bogus", "known"}},
		{"unknown quantizer parameter", []string{"train", "-weights", "lsq:bitz=2"}, []string{"bitz", "known: bits"}},
		{"bad bits", []string{"train", "-inputs", "lsq:bits=99"}, []string{"bits=99"}},
		{"unknown model", []string{"train", "-model", "resnet9000"}, []string{"resnet9000", "known"}},
		{"unknown dataset", []string{"train", "-dataset", "imagenet21k"}, []string{"imagenet21k"}},
		{"corrupt checkpoint on eval", []string{"eval", corrupt}, []string{"corrupt.ckpt", "checkpoint"}},
		{"corrupt checkpoint on resume", []string{"train", "-resume", corrupt}, []string{"corrupt.ckpt", "checkpoint"}},
		{"missing checkpoint", []string{"eval", filepath.Join(dir, "none.ckpt")}, []string{"none.ckpt"}},
		{"unknown recipe", []string{"train", "-recipe", "nope"}, []string{"nope", "known"}},
		{"unknown command", []string{"frobnicate"}, []string{"frobnicate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; stderr %q", stderr)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Fatalf("panic trace: %s", stderr)
			}
			first := strings.SplitN(strings.TrimSpace(stderr), "\n", 2)[0]
			for _, w := range tc.want {
				if !strings.Contains(first, w) {
					t.Errorf("error line %q lacks %q", first, w)
				}
			}
		})
	}
}

func TestWrongModelCheckpointOnResume(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "mlp.ckpt")
	requireMNIST(t)
	code, _, stderr := runCLI("train", "-model", "mlp", "-hidden", "16", "-max-steps", "5", "-epochs", "1", "-out", ck, "-log-format", "json")
	if code != 0 {
		t.Fatalf("could not train the fixture: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI("train", "-model", "lenet5", "-resume", ck)
	if code != 2 || !strings.Contains(stderr, "mlp") || !strings.Contains(stderr, "lenet5") {
		t.Fatalf("exit %d, stderr %q: want an error naming both models", code, stderr)
	}
	code, stdout, stderr := runCLI("eval", "-limit", "200", ck)
	if code != 0 || !strings.Contains(stdout, "test accuracy") {
		t.Fatalf("eval: exit %d, %q %q", code, stdout, stderr)
	}
}

// requireMNIST skips t (or fails it under LOWBIT_REQUIRE_DATA=1) when MNIST
// cannot be found; any other failure to open it fails t.
func requireMNIST(t *testing.T) {
	t.Helper()
	_, err := datasets.Open("mnist", "train", "", datasets.Options{})
	if errors.Is(err, datasets.ErrNotFound) {
		datatest.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecipesAndSummary(t *testing.T) {
	code, out, _ := runCLI("recipes")
	if code != 0 || !strings.Contains(out, "lsq-w4a4") {
		t.Fatalf("recipes: %d %q", code, out)
	}
	code, out, _ = runCLI("recipes", "show", "lsq-w4a4")
	if code != 0 || !strings.Contains(out, `"weights": "lsq(bits=4)"`) {
		t.Fatalf("recipes show: %d %q", code, out)
	}
	code, out, _ = runCLI("summary", "-weights", "sign", "-inputs", "sign")
	if code != 0 || !strings.Contains(out, "binary 2000000") || !strings.Contains(out, "compression") {
		t.Fatalf("summary: %d %q", code, out)
	}
}
