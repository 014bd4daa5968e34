package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

// ortDir holds the node runner and its package.json; `npm ci` there (with
// ONNXRUNTIME_NODE_INSTALL=skip: the npm package ships the linux x64
// binding) installs onnxruntime-node.
const ortDir = "testdata/ortrun"

// ortRunner returns the node binary, skipping t (or failing it under
// LOWBIT_REQUIRE_DATA=1) when node or onnxruntime-node is missing.
func ortRunner(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		datatest.Missing(t, "ONNX Runtime: node not found (apt-get install nodejs npm): %v", err)
	}
	if _, err := os.Stat(filepath.Join(ortDir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		datatest.Missing(t, "ONNX Runtime: onnxruntime-node not installed (cd export/onnx/%s && ONNXRUNTIME_NODE_INSTALL=skip npm ci): %v", ortDir, err)
	}
	return node
}

// ONNX Runtime graph optimization levels (SessionOptions.graphOptimizationLevel).
const (
	optAll      = "all"      // the default: constant folding, Conv+Mul/Add fusion, layout changes
	optDisabled = "disabled" // the graph as written
)

// ortRun runs the ONNX model in ONNX Runtime at the optimization level on n
// samples of shape dims (x holds them, float32), batch at a time, and
// returns the first output.
func ortRun(t testing.TB, model []byte, opt string, x []float32, n, batch int, dims ...int) []float32 {
	t.Helper()
	node := ortRunner(t)
	dir := t.TempDir()
	mp, in, out := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
	if err := os.WriteFile(mp, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, f32Bytes(x), 0o644); err != nil {
		t.Fatal(err)
	}
	ds := make([]string, len(dims))
	for i, d := range dims {
		ds[i] = fmt.Sprint(d)
	}
	cmd := exec.Command(node, filepath.Join(ortDir, "run.js"), mp, in, out, fmt.Sprint(n), fmt.Sprint(batch), strings.Join(ds, ","))
	cmd.Env = append(os.Environ(), "ORTRUN_OPT="+opt)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime-node: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes, not float32s", out, len(b))
	}
	y := make([]float32, len(b)/4)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return y
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// onnxCheck runs ONNX's own checker (Debian python3-onnx 1.12, with shape
// inference) on the model, skipping t (or failing it under
// LOWBIT_REQUIRE_DATA=1) when it is not installed.
func onnxCheck(t testing.TB, model []byte) {
	t.Helper()
	const script = "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)"
	var py string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import onnx").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		datatest.Missing(t, "ONNX checker: no python3 with the onnx module (apt-get install python3-onnx)")
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(py, "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, b)
	}
}
