package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/lowbit/lowbit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// builder accumulates the nodes and initializers of one ONNX graph.
type builder struct {
	g    *onnxpb.GraphProto
	used map[string]int
}

func newBuilder(name string) *builder {
	return &builder{g: &onnxpb.GraphProto{Name: proto.String(name)}, used: map[string]int{}}
}

// name returns base, or base with a numeric suffix when base is taken.
func (b *builder) name(base string) string {
	n := b.used[base]
	b.used[base] = n + 1
	if n == 0 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, n)
}

// node appends op with the given inputs and attributes and returns the name
// of its (single) output, derived from base.
func (b *builder) node(op, base string, in []string, attrs ...*onnxpb.AttributeProto) string {
	out := b.name(base)
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}, Attribute: attrs,
	})
	return out
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// tensor adds an initializer with raw little-endian data.
func (b *builder) tensor(base string, t onnxpb.TensorProto_DataType, dims []int64, raw []byte) string {
	name := b.name(base)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(t)), Dims: dims, RawData: raw,
	})
	return name
}

// floats adds a float32 initializer of the given shape (none: a scalar).
func (b *builder) floats(base string, v []float32, dims ...int64) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return b.tensor(base, onnxpb.TensorProto_FLOAT, dims, raw)
}

func (b *builder) scalar(base string, v float32) string { return b.floats(base, []float32{v}) }

func (b *builder) int8s(base string, v []int8, dims ...int64) string {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return b.tensor(base, onnxpb.TensorProto_INT8, dims, raw)
}

func (b *builder) uint8s(base string, v []uint8, dims ...int64) string {
	return b.tensor(base, onnxpb.TensorProto_UINT8, dims, append([]byte(nil), v...))
}

// valueInfo describes a float32 graph input or output whose first
// dimension is the batch size N.
func valueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
	}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}},
	}}
}
