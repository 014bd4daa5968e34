package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestExportONNX: -format onnx writes an ONNX model (opset 13, sign
// inputs through Where, never Sign) next to the checkpoint by default.
func TestExportONNX(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "xnor.ckpt")
	writeCheckpoint(t, ckpt)
	for _, tc := range []struct {
		name string
		args []string
		path string
	}{
		{"default-path", []string{"export", "-format", "onnx", ckpt}, filepath.Join(dir, "xnor.onnx")},
		{"explicit-path", []string{"export", ckpt, "-format", "onnx", "-o", filepath.Join(dir, "m.onnx")}, filepath.Join(dir, "m.onnx")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != 0 || !strings.Contains(out, "ONNX opset 13") {
				t.Fatalf("export: exit %d: %s%s", code, out, errOut)
			}
			b, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v", tc.path, err)
			}
			if len(m.GetOpsetImport()) != 1 || m.GetOpsetImport()[0].GetVersion() != 13 {
				t.Errorf("opset imports %v, want 13", m.GetOpsetImport())
			}
			ops := map[string]int{}
			for _, n := range m.GetGraph().GetNode() {
				ops[n.GetOpType()]++
			}
			// LeNet-5: conv1, conv5 (sign input), dense10 (sign input), dense13.
			if ops["Where"] != 2 || ops["Sign"] != 0 || ops["Conv"] != 2 || ops["Gemm"] != 2 {
				t.Errorf("ops %v: want Where for the 2 sign inputs, no Sign, 2 Conv and 2 Gemm", ops)
			}
		})
	}
	code, _, errOut := runCLI("export", ckpt, "-format", "tflite")
	if code != 2 || !strings.Contains(errOut, `-format "tflite"`) {
		t.Errorf("bad format: exit %d: %s", code, errOut)
	}
}
