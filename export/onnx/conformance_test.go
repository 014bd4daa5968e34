package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/internal/datatest"
	"github.com/lowbit/lowbit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// conformanceDir holds ONNX's node conformance tests (Debian
// libonnx-testdata, ONNX 1.12).
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// TestQDQConformance runs ONNX's own QuantizeLinear and DequantizeLinear
// conformance vectors (rounding half to even, saturation, per-axis scales)
// in the ONNX Runtime the other tests use, read through internal/onnxpb:
// the runtime follows the specification the exported graphs rely on.
func TestQDQConformance(t *testing.T) {
	ortRunner(t)
	for _, name := range []string{"test_quantizelinear", "test_quantizelinear_axis", "test_dequantizelinear", "test_dequantizelinear_axis"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(conformanceDir, name)
			if _, err := os.Stat(dir); err != nil {
				datatest.Missing(t, "ONNX conformance data (apt-get install libonnx-testdata): %v", err)
			}
			var m onnxpb.ModelProto
			readProto(t, filepath.Join(dir, "model.onnx"), &m)
			g := m.GetGraph()
			ins := make([]*onnxpb.TensorProto, len(g.GetInput()))
			for i := range ins {
				ins[i] = &onnxpb.TensorProto{}
				readProto(t, filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)), ins[i])
			}
			var out onnxpb.TensorProto
			readProto(t, filepath.Join(dir, "test_data_set_0", "output_0.pb"), &out)
			x := ins[0]
			raw, err := proto.Marshal(runnable(&m, ins))
			if err != nil {
				t.Fatal(err)
			}
			dims := make([]int, len(x.GetDims()))
			for i, d := range x.GetDims() {
				dims[i] = int(d)
			}
			got := ortRun(t, raw, optAll, tensorFloats(t, x), 1, 1, dims...)
			want := tensorFloats(t, &out)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("output %d: ONNX Runtime %g, conformance %g", i, got[i], want[i])
				}
			}
		})
	}
}

// runnable turns a conformance model into one the node runner can feed: a
// float32 [1, dims...] input reshaped and cast to the first input's type,
// the other inputs as initializers, the output cast to float32.
func runnable(m *onnxpb.ModelProto, ins []*onnxpb.TensorProto) *onnxpb.ModelProto {
	g := m.GetGraph()
	x := ins[0]
	b := &builder{g: &onnxpb.GraphProto{Name: g.Name}, used: map[string]int{Input: 1, Output: 1}}
	for i := 1; i < len(ins); i++ {
		ins[i].Name = proto.String(g.GetInput()[i].GetName())
		b.g.Initializer = append(b.g.Initializer, ins[i])
	}
	shape := b.tensor("shape", onnxpb.TensorProto_INT64, []int64{int64(len(x.GetDims()))}, int64s(x.GetDims()))
	r := b.node("Reshape", "reshape", []string{Input, shape})
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String("Cast"), Name: proto.String("cast_in"),
		Input: []string{r}, Output: []string{g.GetInput()[0].GetName()}, Attribute: []*onnxpb.AttributeProto{intAttr("to", int64(x.GetDataType()))}})
	b.g.Node = append(b.g.Node, g.GetNode()...)
	y := b.node("Cast", "cast_out", []string{g.GetOutput()[0].GetName()}, intAttr("to", int64(onnxpb.TensorProto_FLOAT)))
	mp := b.finish(y, nil, nil, bitpack.ModelInfo{})
	mp.OpsetImport = m.GetOpsetImport()
	in := mp.GetGraph().GetInput()[0].GetType().GetTensorType()
	in.Shape = nil
	mp.GetGraph().GetOutput()[0].GetType().GetTensorType().Shape = nil
	return mp
}

func int64s(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

func readProto(t *testing.T, path string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// tensorFloats returns a float32, uint8 or int8 tensor's values as float32.
func tensorFloats(t *testing.T, tp *onnxpb.TensorProto) []float32 {
	t.Helper()
	raw := tp.GetRawData()
	switch onnxpb.TensorProto_DataType(tp.GetDataType()) {
	case onnxpb.TensorProto_FLOAT:
		if raw == nil {
			return tp.GetFloatData()
		}
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out
	case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT8:
		signed := tp.GetDataType() == int32(onnxpb.TensorProto_INT8)
		if raw == nil {
			out := make([]float32, len(tp.GetInt32Data()))
			for i, v := range tp.GetInt32Data() {
				out[i] = float32(v)
			}
			return out
		}
		out := make([]float32, len(raw))
		for i, v := range raw {
			out[i] = float32(v)
			if signed {
				out[i] = float32(int8(v))
			}
		}
		return out
	}
	t.Fatalf("tensor %s: data type %d", tp.GetName(), tp.GetDataType())
	return nil
}
