package bench

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPTQReport(t *testing.T) {
	dir := t.TempDir()
	cells := []PTQCell{
		{Dataset: "cifar10", Model: "resnet20", Kind: KindFP, WBits: 32, ABits: 32, Acc: 65.45, Calib: 1000},
		{Dataset: "cifar10", Model: "resnet20", Kind: KindPTQMax, WBits: 8, ABits: 8, Acc: 65.40, Seconds: 9.9, Calib: 1000},
		{Dataset: "cifar10", Model: "resnet20", Kind: KindAdaRound, WBits: 4, ABits: 8, Acc: 64.0, Seconds: 80, Calib: 1000, Detail: "mse inputs"},
		{Dataset: "cifar10", Model: "resnet20", Kind: KindTorch, WBits: 8, ABits: 8, Acc: 65.50, Seconds: 14, Calib: 1000},
		{Dataset: "mnist", Model: "lenet5", Kind: KindFP, WBits: 32, ABits: 32, Acc: 99.38, Calib: 1000},
		{Dataset: "mnist", Model: "lenet5", Kind: KindQAT, WBits: 2, ABits: 4, Acc: 99.1, Seconds: 70, Calib: 1000},
	}
	if err := WritePTQReport(dir, cells, "lowbit bench ptq", ThisMachine()); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "ptq.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| PTQ (max) | 65.40 (9.9s) | – |",
		"| PTQ + AdaRound | – | 64.00 (1m20s) |",
		"W8A8 PTQ within 0.3 points of FP: best 65.40 vs FP 65.45 (-0.05): met",
		"W4A8 PTQ + AdaRound within 1 point of FP: 64.00 vs 65.45 (-1.45): NOT met",
		"at least as accurate as PyTorch's: 65.40 vs 65.50: NOT met",
		"| QAT (LSQ, from FP) | 99.10 (1m10s) |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("ptq.md lacks %q:\n%s", want, md)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "ptq.png")); err != nil || fi.Size() == 0 {
		t.Errorf("ptq.png: %v", err)
	}
	if err := (&ptqGrid{cfg: PTQConfig{Out: dir}, cells: map[string]PTQCell{}}).save(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteSafetensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	ts := map[string]stTensor{"b": f32Tensor([]float32{1, -2}, 2), "a": i32Tensor([]int{7}, 1)}
	if err := writeSafetensors(path, ts, map[string]string{"model": "m"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 || int(n)+8+12 != len(b) {
		t.Fatalf("header length %d, file %d bytes", n, len(b))
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	var bi struct {
		Dtype   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets []int  `json:"data_offsets"`
	}
	json.Unmarshal(hdr["b"], &bi)
	if bi.Dtype != "F32" || bi.Offsets[0] != 4 || bi.Offsets[1] != 12 || bi.Shape[0] != 2 {
		t.Errorf("b: %+v", bi)
	}
	if got := int32(binary.LittleEndian.Uint32(b[8+n:])); got != 7 {
		t.Errorf("a = %d, want 7", got)
	}
}
