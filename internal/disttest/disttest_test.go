package disttest

import (
	"strings"
	"testing"

	"github.com/lowbit/lowbit/recipes"
)

func TestCompareF32(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  []float32
		exact bool
		fails bool
	}{
		{"equal", []float32{1, 2, 3}, []float32{1, 2, 3}, false, false},
		{"round-off", []float32{1, 2, 3.000001}, []float32{1, 2, 3}, false, false},
		{"beyond", []float32{1, 2, 3.1}, []float32{1, 2, 3}, false, true},
		{"tiny values, absolute part", []float32{1e-6, 0}, []float32{0, 1e-6}, false, false},
		{"exact mismatch", []float32{1, 2}, []float32{1, 2.0000002}, true, true},
		{"length", []float32{1}, []float32{1, 2}, false, true},
		{"nan", []float32{float32(nan())}, []float32{1}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := compareF32("x", tc.a, tc.b, tc.exact)
			if (d != "") != tc.fails {
				t.Fatalf("compareF32 = %q, want failure %v", d, tc.fails)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestCompareCheckpoints(t *testing.T) {
	opt := []byte("LBOS\x01\x03sgd\x01\x01w\x05\x01\x02")
	opt = append(opt, 0, 0, 128, 63, 0, 0, 0, 64) // 1, 2
	opt = append(opt, 0, 0, 0, 0, 0)              // extra length 0 + crc (unchecked here)
	mk := func(w, calls float32) *recipes.Checkpoint {
		return &recipes.Checkpoint{Step: 5, Tensors: []recipes.TensorInfo{{Name: "w"}, {Name: "l.gq.calls"}},
			Data: [][]float32{{w, 1}, {calls, 0}}, OptBytes: opt}
	}
	for _, tc := range []struct {
		name      string
		got, want *recipes.Checkpoint
		diff      string
	}{
		{"same", mk(1, 3), mk(1, 3), ""},
		{"weights", mk(1.5, 3), mk(1, 3), "w:"},
		{"noise counter", mk(1, 4), mk(1, 3), "l.gq.calls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffs, _, err := Compare(tc.got, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(diffs, "\n")
			if (tc.diff == "") != (got == "") || !strings.Contains(got, tc.diff) {
				t.Fatalf("diffs %q, want one containing %q", got, tc.diff)
			}
		})
	}
	if _, err := DecodeOptState([]byte("nope, not a state")); err == nil {
		t.Fatal("DecodeOptState accepted a bad magic")
	}
}
