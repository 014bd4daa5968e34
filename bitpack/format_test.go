package bitpack

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readSeed returns the bytes of a committed fuzz seed (written by the
// model-file code before internal/container existed).
func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzModel", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	q := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// TestOldFilesStillLoad decodes model files written before the shared
// container and re-encodes them: the envelope and the blobs are byte for
// byte the same (the header JSON may gain fields).
func TestOldFilesStillLoad(t *testing.T) {
	for _, name := range []string{"seed0", "seed1"} {
		b := readSeed(t, name)
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		_, p1, err1 := modelFormat.Decode(b)
		_, p2, err2 := modelFormat.Decode(again)
		if err1 != nil || err2 != nil || !bytes.Equal(p1, p2) || !bytes.Equal(b[:12], again[:12]) {
			t.Fatalf("%s: re-encoding changes the envelope or the blobs (%v, %v)", name, err1, err2)
		}
	}
}

// tinyModel is global-pool → flatten → dense, or conv → global-pool →
// flatten → dense, on a 2×2×1 input; rewrite gives it another input size.
func tinyModel(t *testing.T, conv bool) []byte {
	t.Helper()
	var ls []LayerSpec
	c := 1
	if conv {
		ls = append(ls, LayerSpec{Kind: LayerConv, Name: "c", Kernel: KernelFloat, In: 1, Out: 2, KH: 3, KW: 3, Stride: 1, Pad: 1,
			Weights: WeightSpec{Enc: WeightsF32, Float: make([]float32, 18)}})
		c = 2
	}
	ls = append(ls, LayerSpec{Kind: LayerAvgPool, Name: "gap", Global: true}, LayerSpec{Kind: LayerFlatten, Name: "f"},
		LayerSpec{Kind: LayerDense, Name: "d", Kernel: KernelFloat, In: c, Out: 2, Weights: WeightSpec{Enc: WeightsF32, Float: make([]float32, 2*c)}})
	m, err := NewModel(Spec{Input: []int{2, 2, 1}, Classes: 2, Layers: ls})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadLimits: a few hundred bytes must not make the engine allocate
// gigabytes; the input and per-layer activation sizes are capped at load.
func TestLoadLimits(t *testing.T) {
	input := func(b []byte, in string) []byte {
		return rewrite(b, 1, func(s string) string { return strings.Replace(s, `"input":[2,2,1]`, `"input":`+in, 1) })
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"input 8192 square", input(tinyModel(t, false), "[8192,8192,1]"), "exceeds the limit of 4096×4096×4096"},
		{"input 16384 square", input(tinyModel(t, false), "[16384,16384,1]"), "exceeds the limit"},
		{"input values", input(tinyModel(t, false), "[4096,4096,3]"), "over the limit of 16777216"},
		{"conv activation", input(tinyModel(t, true), "[4096,4096,1]"), "output [4096 4096 2] holds 33554432 values per sample, over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".lbq")
			if err := os.WriteFile(p, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load = %v, want ErrModel naming %s and %q", err, p, tc.want)
			}
		})
	}
	if _, err := Decode(input(tinyModel(t, true), "[64,64,1]")); err != nil {
		t.Errorf("a 64×64 input within the limits: %v", err)
	}
}

func TestLoadRefusesNonRegularFiles(t *testing.T) {
	for _, p := range []string{"/dev/zero", t.TempDir()} {
		if _, err := Load(p); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%s) = %v, want a not-a-regular-file error naming it", p, err)
		}
	}
}
