package onnx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Opset is the ONNX operator set version of the exported graphs.
const Opset = 13

// Input and Output are the names of the graph's input, [N, C, H, W]
// float32 (normalised as in training), and output, [N, classes] logits.
const (
	Input  = "input"
	Output = "logits"
)

// ErrUnsupported reports a layer or quantizer with no exact ONNX form.
var ErrUnsupported = errors.New("onnx: no exact ONNX form")

// Encode converts a frozen model (see export.Freeze) to a serialized ONNX
// ModelProto. A layer or quantizer with no exact ONNX form gives an error
// wrapping ErrUnsupported that names the layer.
func Encode(bm *bitpack.Model) ([]byte, error) {
	mp, err := convert(bm)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", bm.Info().Name, err)
	}
	return b, nil
}

// Write encodes bm and writes it to path atomically (temporary file,
// fsync, rename).
func Write(path string, bm *bitpack.Model) error {
	b, err := Encode(bm)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

// shape is the per-sample shape of a tensor in the graph: [C, H, W]
// (NCHW without N) or [F].
type shape []int

func convert(bm *bitpack.Model) (*onnxpb.ModelProto, error) {
	if bm == nil {
		return nil, fmt.Errorf("onnx: nil model")
	}
	s := bm.Spec()
	if len(s.Input) != 3 {
		return nil, fmt.Errorf("onnx: input shape %v, want H,W,C", s.Input)
	}
	h, w, c := s.Input[0], s.Input[1], s.Input[2]
	name := s.Info.Name
	if name == "" {
		name = "lowbit"
	}
	b := newBuilder(name)
	b.used[Input], b.used[Output] = 1, 1
	x, sh, err := b.layers(s.Layers, Input, shape{c, h, w})
	if err != nil {
		return nil, err
	}
	if x, sh = b.flatten("output", x, sh); len(sh) != 1 || sh[0] != s.Classes {
		return nil, fmt.Errorf("onnx: the model gives %v values per sample, want %d classes", sh, s.Classes)
	}
	return b.finish(x, []int64{int64(c), int64(h), int64(w)}, []int64{int64(s.Classes)}, s.Info), nil
}

// finish names the tensor x the graph's output and wraps the graph in a
// model; the input and output have a batch dimension N before dims.
func (b *builder) finish(x string, in, out []int64, info bitpack.ModelInfo) *onnxpb.ModelProto {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String("Identity"), Name: proto.String(Output),
		Input: []string{x}, Output: []string{Output}})
	b.g.Input = []*onnxpb.ValueInfoProto{valueInfo(Input, in...)}
	b.g.Output = []*onnxpb.ValueInfoProto{valueInfo(Output, out...)}
	return &onnxpb.ModelProto{
		IrVersion:     proto.Int64(int64(onnxpb.Version_IR_VERSION)),
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:  proto.String("lowbit"),
		Graph:         b.g,
		DocString:     proto.String("exported by lowbit from a frozen model; input NCHW, normalised as in training"),
		MetadataProps: metadata(info),
	}
}

// metadata records the model info, including the input normalisation
// x = (p/255 − mean)/std that the graph itself does not apply.
func metadata(info bitpack.ModelInfo) []*onnxpb.StringStringEntryProto {
	var out []*onnxpb.StringStringEntryProto
	add := func(k, v string) {
		if v != "" {
			out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String("lowbit." + k), Value: proto.String(v)})
		}
	}
	floats := func(v []float32) string {
		s := make([]string, len(v))
		for i, f := range v {
			s[i] = fmt.Sprint(f)
		}
		return strings.Join(s, ",")
	}
	add("model", info.Name)
	add("recipe", info.Recipe)
	add("dataset", info.Dataset)
	add("mean", floats(info.Mean))
	add("std", floats(info.Std))
	return out
}

func (b *builder) layers(ls []bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	for i := range ls {
		var err error
		if x, sh, err = b.layer(&ls[i], x, sh); err != nil {
			return "", nil, err
		}
	}
	return x, sh, nil
}

func (b *builder) layer(ls *bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	switch ls.Kind {
	case bitpack.LayerConv, bitpack.LayerDense:
		return b.linear(ls, x, sh)
	case bitpack.LayerBatchNorm:
		return b.batchNorm(ls, x, sh)
	case bitpack.LayerReLU:
		return b.node("Relu", ls.Name, []string{x}), sh, nil
	case bitpack.LayerHardTanh:
		return b.node("Clip", ls.Name, []string{x, b.scalar(ls.Name+"/lo", -1), b.scalar(ls.Name+"/hi", 1)}), sh, nil
	case bitpack.LayerMaxPool, bitpack.LayerAvgPool:
		return b.pool(ls, x, sh)
	case bitpack.LayerFlatten:
		x, sh = b.flatten(ls.Name, x, sh)
		return x, sh, nil
	case bitpack.LayerResidual:
		return b.residual(ls, x, sh)
	}
	return "", nil, fmt.Errorf("%w: layer %s: kind %q", ErrUnsupported, ls.Name, ls.Kind)
}

// flatten turns [C, H, W] into lowbit's NHWC feature order: Transpose to
// NHWC, then Flatten.
func (b *builder) flatten(name, x string, sh shape) (string, shape) {
	if len(sh) != 3 {
		return x, sh
	}
	t := b.node("Transpose", name+"/nhwc", []string{x}, intsAttr("perm", 0, 2, 3, 1))
	return b.node("Flatten", name, []string{t}, intAttr("axis", 1)), shape{sh[0] * sh[1] * sh[2]}
}

func (b *builder) linear(ls *bitpack.LayerSpec, x string, sh shape) (string, shape, error) {
	conv := ls.Kind == bitpack.LayerConv
	if conv && (len(sh) != 3 || sh[0] != ls.In) || !conv && len(sh) != 3 && len(sh) != 1 {
		return "", nil, fmt.Errorf("onnx: layer %s: input %v does not fit %d inputs", ls.Name, sh, ls.In)
	}
	if !conv {
		if x, sh = b.flatten(ls.Name+"/flatten", x, sh); sh[0] != ls.In {
			return "", nil, fmt.Errorf("onnx: layer %s: %d input features, want %d", ls.Name, sh[0], ls.In)
		}
	}
	xq, err := b.input(ls.Name, ls.Input, x)
	if err != nil {
		return "", nil, err
	}
	w, alpha, err := b.weights(ls)
	if err != nil {
		return "", nil, err
	}
	if ls.Bias != nil && len(ls.Bias) != ls.Out {
		return "", nil, fmt.Errorf("onnx: layer %s: %d biases for %d outputs", ls.Name, len(ls.Bias), ls.Out)
	}
	var y string
	osh := shape{ls.Out}
	if conv {
		st, p := max(ls.Stride, 1), ls.Pad
		oh, ow := (sh[1]+2*p-ls.KH)/st+1, (sh[2]+2*p-ls.KW)/st+1
		if oh < 1 || ow < 1 {
			return "", nil, fmt.Errorf("onnx: layer %s: %d×%d kernel on input %v", ls.Name, ls.KH, ls.KW, sh)
		}
		y = b.node("Conv", ls.Name+"/conv", []string{xq, w}, intsAttr("kernel_shape", int64(ls.KH), int64(ls.KW)),
			intsAttr("strides", int64(st), int64(st)), intsAttr("pads", int64(p), int64(p), int64(p), int64(p)))
		osh = shape{ls.Out, oh, ow}
	} else {
		y = b.node("Gemm", ls.Name+"/gemm", []string{xq, w}, intAttr("transB", 1))
	}
	// Per-channel tensors broadcast over [N, O, H, W] as [O, 1, 1].
	dims := []int64{int64(ls.Out)}
	if conv {
		dims = append(dims, 1, 1)
	}
	if alpha != nil {
		y = b.node("Mul", ls.Name+"/alpha", []string{y, b.floats(ls.Name+"/alpha", alpha, dims...)})
	}
	if ls.Bias != nil {
		y = b.node("Add", ls.Name+"/bias", []string{y, b.floats(ls.Name+"/b", ls.Bias, dims...)})
	}
	return b.node("Identity", ls.Name, []string{y}), osh, nil
}
