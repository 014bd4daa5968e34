package bitpack

import (
	"errors"
	"fmt"

	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/internal/container"
)

// Model file layout (little endian), version 1:
//
//	magic "LBQMODEL" (8 bytes)
//	uint32 format version
//	uint32 header length H
//	header: H bytes of JSON (see fileHeader): model info, input shape,
//	        classes, the layers with their kernels, quantizers and shapes,
//	        and the blob table
//	blobs:  the tensors, back to back, each as the blob table says:
//	        "f32" = len float32 values; "bits" = len values of width bits,
//	        packed LSB first into ceil(len·width/8) bytes
//	uint32 CRC-32 (IEEE) of every byte before it
//
// Weights keep their quantized form on disk: sign weights take 1 bit per
// value, LSQ int-k weights k bits, DoReFa k-bit weights k bits, plus one
// float32 scale per output row (or per layer).
const (
	// FormatVersion is the newest model file version this build reads and
	// the one it writes.
	FormatVersion = 1
	// MaxFileSize caps the size of a model file Load reads.
	MaxFileSize = 2 << 30
)

// modelFormat is the internal/container envelope of model files.
var modelFormat = container.Format{
	Magic: "LBQMODEL", Version: FormatVersion, MaxHeader: 16 << 20, MaxFile: MaxFileSize,
	Bad: ErrFormat, Newer: ErrVersion, Noun: "model file",
}

// Errors of Load and Decode; test with errors.Is.
var (
	// ErrFormat reports a file that is not a valid model file: wrong
	// magic, truncated, bad checksum, malformed header or blobs.
	ErrFormat = errors.New("bitpack: bad model file")
	// ErrVersion reports a model file written by a newer lowbit.
	ErrVersion = errors.New("bitpack: model file from a newer lowbit")
)

type blobInfo = container.Blob

// blob references are 1-based indices into the blob table; 0 means absent.
type wireWeights struct {
	Enc    string `json:"enc"`
	Bits   int    `json:"bits,omitempty"`
	Values int    `json:"values"`          // f32 values or levels
	Scale  int    `json:"scale,omitempty"` // f32 blob
}

type wireLayer struct {
	Kind     string       `json:"kind"`
	Name     string       `json:"name,omitempty"`
	Kernel   string       `json:"kernel,omitempty"`
	In       int          `json:"in,omitempty"`
	Out      int          `json:"out,omitempty"`
	KH       int          `json:"kh,omitempty"`
	KW       int          `json:"kw,omitempty"`
	Stride   int          `json:"stride,omitempty"`
	Pad      int          `json:"pad,omitempty"`
	Input    *InputQuant  `json:"input,omitempty"`
	Weights  *wireWeights `json:"weights,omitempty"`
	Bias     int          `json:"bias,omitempty"`
	Gamma    int          `json:"gamma,omitempty"`
	Beta     int          `json:"beta,omitempty"`
	Mean     int          `json:"mean,omitempty"`
	Var      int          `json:"var,omitempty"`
	Eps      float32      `json:"eps,omitempty"`
	Size     int          `json:"size,omitempty"`
	Global   bool         `json:"global,omitempty"`
	Body     []wireLayer  `json:"body,omitempty"`
	Shortcut []wireLayer  `json:"shortcut,omitempty"`
	// HasShortcut distinguishes an empty shortcut list from the identity.
	HasShortcut bool `json:"has_shortcut,omitempty"`
}

type fileHeader struct {
	Info    ModelInfo   `json:"info"`
	Input   []int       `json:"input"`
	Classes int         `json:"classes"`
	Layers  []wireLayer `json:"layers"`
	Blobs   []blobInfo  `json:"blobs"`
}

// encoder collects blobs.
type encoder struct {
	blobs []blobInfo
	data  []byte
}

func (e *encoder) f32(v []float32) int {
	if v == nil {
		return 0
	}
	e.data = container.AppendF32(e.data, v)
	e.blobs = append(e.blobs, blobInfo{Type: "f32", Len: len(v)})
	return len(e.blobs)
}

func (e *encoder) bits(v []uint8, width int) int {
	e.data = append(e.data, container.PackBits(v, width)...)
	e.blobs = append(e.blobs, blobInfo{Type: "bits", Width: width, Len: len(v)})
	return len(e.blobs)
}

// stored maps a level to its unsigned on-disk code.
func storedLevels(w *WeightSpec) []uint8 {
	out := make([]uint8, len(w.Levels))
	for i, l := range w.Levels {
		switch w.Enc {
		case WeightsSign:
			if l < 0 {
				out[i] = 1 // bit 1 = −1, as everywhere in bitpack
			}
		case WeightsInt:
			out[i] = uint8(int(l) + 1<<(w.Bits-1))
		default:
			out[i] = uint8(l)
		}
	}
	return out
}

func (e *encoder) layers(ls []LayerSpec) []wireLayer {
	out := make([]wireLayer, len(ls))
	for i := range ls {
		l := &ls[i]
		w := wireLayer{Kind: l.Kind, Name: l.Name}
		switch l.Kind {
		case LayerConv, LayerDense:
			w.Kernel, w.In, w.Out, w.KH, w.KW, w.Stride, w.Pad = l.Kernel, l.In, l.Out, l.KH, l.KW, l.Stride, l.Pad
			if l.Kind == LayerDense { // geometry is implied
				w.KH, w.KW, w.Stride, w.Pad = 0, 0, 0, 0
			}
			if l.Input.Kind != QuantNone {
				q := l.Input
				w.Input = &q
			}
			ww := &wireWeights{Enc: l.Weights.Enc, Bits: l.Weights.Bits}
			if l.Weights.Enc == WeightsF32 {
				ww.Values = e.f32(l.Weights.Float)
			} else {
				ww.Values = e.bits(storedLevels(&l.Weights), l.Weights.Bits)
				ww.Scale = e.f32(l.Weights.Scale)
			}
			w.Weights = ww
			w.Bias = e.f32(l.Bias)
		case LayerBatchNorm:
			w.Gamma, w.Beta, w.Mean, w.Var, w.Eps = e.f32(l.Gamma), e.f32(l.Beta), e.f32(l.Mean), e.f32(l.Var), l.Eps
		case LayerMaxPool, LayerAvgPool:
			w.Size, w.Stride, w.Global = l.Size, l.Stride, l.Global
		case LayerResidual:
			w.Body = e.layers(l.Body)
			if l.Shortcut != nil {
				w.Shortcut, w.HasShortcut = e.layers(l.Shortcut), true
			}
		}
		out[i] = w
	}
	return out
}

// Encode returns the model file bytes of m.
func (m *Model) Encode() ([]byte, error) {
	e := &encoder{}
	h := fileHeader{Info: m.spec.Info, Input: m.spec.Input, Classes: m.spec.Classes}
	h.Layers = e.layers(m.spec.Layers)
	h.Blobs = e.blobs
	b, err := modelFormat.EncodeJSON(h, e.data)
	if err != nil {
		return nil, fmt.Errorf("bitpack: %w", err)
	}
	return b, nil
}

// Save writes m to path atomically: a temporary file beside it, fsync,
// rename. A crash leaves any previous file at path intact.
func (m *Model) Save(path string) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("bitpack: %w", err)
	}
	return nil
}

// Load reads, verifies and builds the model file at path. Errors name the
// file and wrap ErrFormat, ErrVersion or ErrModel.
//
// A path that is not a regular file, is larger than MaxFileSize or does
// not start with the magic is refused before it is read whole.
func Load(path string) (*Model, error) {
	b, err := modelFormat.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bitpack: %w", err)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("bitpack: %s: %w", path, err)
	}
	return m, nil
}

// decoder hands out blobs.
type decoder struct {
	blobs [][]byte
	info  []blobInfo
	used  []bool
}

func (d *decoder) get(ref int, typ string) ([]byte, blobInfo, error) {
	if ref < 1 || ref > len(d.blobs) {
		return nil, blobInfo{}, fmt.Errorf("blob %d does not exist (%d blobs)", ref, len(d.blobs))
	}
	if d.used[ref-1] {
		return nil, blobInfo{}, fmt.Errorf("blob %d used twice", ref)
	}
	d.used[ref-1] = true
	bi := d.info[ref-1]
	if bi.Type != typ {
		return nil, blobInfo{}, fmt.Errorf("blob %d is %s, want %s", ref, bi.Type, typ)
	}
	return d.blobs[ref-1], bi, nil
}

func (d *decoder) f32(ref int, want int, what string) ([]float32, error) {
	if ref == 0 {
		return nil, nil
	}
	b, bi, err := d.get(ref, "f32")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if want >= 0 && bi.Len != want {
		return nil, fmt.Errorf("%s: %d values, want %d", what, bi.Len, want)
	}
	return container.F32(b), nil
}

func (d *decoder) bits(ref, width, want int, what string) ([]uint8, error) {
	b, bi, err := d.get(ref, "bits")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if bi.Width != width || bi.Len != want {
		return nil, fmt.Errorf("%s: %d values of %d bits, want %d of %d", what, bi.Len, bi.Width, want, width)
	}
	return container.UnpackBits(b, width, bi.Len), nil
}

// layers rebuilds the layer specs; in is the per-sample input shape, used
// to size the weight blobs (full shape checks happen in NewModel).
func (d *decoder) layers(ws []wireLayer, in []int, depth int) ([]LayerSpec, []int, error) {
	if depth > 16 {
		return nil, nil, fmt.Errorf("residual blocks nested too deep")
	}
	out := make([]LayerSpec, len(ws))
	for i := range ws {
		w := &ws[i]
		l := LayerSpec{Kind: w.Kind, Name: w.Name}
		var err error
		switch w.Kind {
		case LayerConv, LayerDense:
			err = d.weighted(w, &l)
		case LayerBatchNorm:
			err = d.batchNorm(w, &l, in)
		case LayerMaxPool, LayerAvgPool:
			l.Size, l.Stride, l.Global = w.Size, w.Stride, w.Global
		case LayerResidual:
			in, err = d.residual(w, &l, in, depth)
		}
		if err != nil {
			name := w.Name
			if name == "" {
				name = fmt.Sprintf("layer %d", i)
			}
			return nil, nil, fmt.Errorf("%s (%s): %w", name, w.Kind, err)
		}
		out[i] = l
		in = nextShape(&l, in)
	}
	return out, in, nil
}

// weighted decodes a conv or dense layer: geometry, input quantizer, weights, bias.
func (d *decoder) weighted(w *wireLayer, l *LayerSpec) error {
	l.Kernel, l.In, l.Out, l.KH, l.KW, l.Stride, l.Pad = w.Kernel, w.In, w.Out, w.KH, w.KW, w.Stride, w.Pad
	kh, kw := l.KH, l.KW
	if w.Kind == LayerDense {
		kh, kw = 1, 1
	}
	if w.Input != nil {
		l.Input = *w.Input
	}
	k, ok := checkCount(kh, kw, l.In)
	n, ok2 := checkCount(k, l.Out)
	if !ok || !ok2 || w.Weights == nil {
		return fmt.Errorf("%d×%d×%d→%d weights", l.KH, l.KW, l.In, l.Out)
	}
	ww := w.Weights
	l.Weights = WeightSpec{Enc: ww.Enc, Bits: ww.Bits}
	var err error
	switch ww.Enc {
	case WeightsF32:
		l.Weights.Float, err = d.f32(ww.Values, n, "weights")
		if err == nil && l.Weights.Float == nil {
			err = fmt.Errorf("weights missing")
		}
	case WeightsSign, WeightsInt, WeightsDoReFa:
		err = d.levels(ww, &l.Weights, n)
	default:
		err = fmt.Errorf("unknown weight encoding %q", ww.Enc)
	}
	if err != nil {
		return err
	}
	l.Bias, err = d.f32(w.Bias, l.Out, "bias")
	return err
}

// levels decodes n packed weight codes and their scales.
func (d *decoder) levels(ww *wireWeights, ws *WeightSpec, n int) error {
	if ww.Bits < 1 || ww.Bits > 8 {
		return fmt.Errorf("%s weights of %d bits", ww.Enc, ww.Bits)
	}
	codes, err := d.bits(ww.Values, ww.Bits, n, "weights")
	if err != nil {
		return err
	}
	ws.Levels = make([]int8, n)
	for j, c := range codes {
		switch ww.Enc {
		case WeightsSign:
			ws.Levels[j] = int8(1 - 2*int(c))
		case WeightsInt:
			ws.Levels[j] = int8(int(c) - 1<<(ww.Bits-1))
		default:
			ws.Levels[j] = int8(c)
		}
	}
	ws.Scale, err = d.f32(ww.Scale, -1, "weight scales")
	return err
}

// batchNorm decodes the four per-channel vectors of the input's last axis.
func (d *decoder) batchNorm(w *wireLayer, l *LayerSpec, in []int) error {
	c := 0
	if len(in) > 0 {
		c = in[len(in)-1]
	}
	var err error
	for _, v := range []struct {
		dst  *[]float32
		ref  int
		name string
	}{{&l.Gamma, w.Gamma, "gamma"}, {&l.Beta, w.Beta, "beta"}, {&l.Mean, w.Mean, "mean"}, {&l.Var, w.Var, "var"}} {
		if *v.dst, err = d.f32(v.ref, c, v.name); err != nil {
			return err
		}
	}
	l.Eps = w.Eps
	return nil
}

// residual decodes a block's body and shortcut and returns the body's output shape.
func (d *decoder) residual(w *wireLayer, l *LayerSpec, in []int, depth int) ([]int, error) {
	body, bo, err := d.layers(w.Body, in, depth+1)
	if err != nil {
		return nil, err
	}
	l.Body = body
	if w.HasShortcut {
		if l.Shortcut, _, err = d.layers(w.Shortcut, in, depth+1); err != nil {
			return nil, err
		}
		if l.Shortcut == nil {
			l.Shortcut = []LayerSpec{}
		}
	}
	return bo, nil
}

// nextShape tracks the per-sample shape well enough to size blobs (a bad
// shape is reported by NewModel).
func nextShape(l *LayerSpec, in []int) []int {
	switch l.Kind {
	case LayerConv:
		if len(in) == 3 && l.Stride > 0 {
			return []int{(in[0]+2*l.Pad-l.KH)/l.Stride + 1, (in[1]+2*l.Pad-l.KW)/l.Stride + 1, l.Out}
		}
	case LayerDense:
		return []int{l.Out}
	case LayerFlatten:
		n, _ := checkCount(in...)
		return []int{n}
	case LayerMaxPool, LayerAvgPool:
		if len(in) == 3 {
			if l.Global {
				return []int{1, 1, in[2]}
			}
			if l.Stride > 0 {
				return []int{(in[0]-l.Size)/l.Stride + 1, (in[1]-l.Size)/l.Stride + 1, in[2]}
			}
		}
	}
	return in
}

// Decode parses and verifies model file bytes and builds the model.
// Truncated or tampered files fail the checksum (ErrFormat); files of a
// newer format version give ErrVersion; inconsistent layers give ErrModel.
func Decode(b []byte) (*Model, error) {
	hdr, payload, err := modelFormat.Decode(b)
	if err != nil {
		return nil, err
	}
	return decodeBody(hdr, payload)
}

// decodeBody parses a verified header and payload and builds the model.
func decodeBody(hdr, payload []byte) (*Model, error) {
	var h fileHeader
	if err := modelFormat.DecodeHeader(hdr, &h, true); err != nil {
		return nil, err
	}
	blobs, err := modelFormat.SplitBlobs(payload, h.Blobs)
	if err != nil {
		return nil, err
	}
	if err := checkInput(h.Input); err != nil {
		return nil, err
	}
	d := &decoder{blobs: blobs, info: h.Blobs, used: make([]bool, len(h.Blobs))}
	ls, _, err := d.layers(h.Layers, h.Input, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	for i, u := range d.used {
		if !u {
			return nil, fmt.Errorf("%w: blob %d is not used by any layer", ErrFormat, i+1)
		}
	}
	return NewModel(Spec{Info: h.Info, Input: h.Input, Classes: h.Classes, Layers: ls})
}

// LayerReport describes one layer for summaries.
type LayerReport struct {
	Name, Kind, Kernel string
	Input              string // input quantizer ("fp" when none)
	Weights            string // weight encoding ("" for layers without weights)
	Params             int    // stored values (weights, biases, BN parameters)
	Bytes              int    // bytes on disk
	FP32Bytes          int    // bytes as float32
}

// Report lists the layers in order (residual blocks flattened, their
// layers named inside the block) with their kernels and sizes on disk.
func (m *Model) Report() []LayerReport {
	var out []LayerReport
	var walk func([]LayerSpec, string)
	walk = func(ls []LayerSpec, prefix string) {
		for i := range ls {
			l := &ls[i]
			r := LayerReport{Name: prefix + l.Name, Kind: l.Kind}
			switch l.Kind {
			case LayerConv, LayerDense:
				r.Kernel, r.Input, r.Weights = l.Kernel, l.Input.String(), l.Weights.Enc
				if l.Weights.Enc == WeightsInt || l.Weights.Enc == WeightsDoReFa {
					r.Weights = fmt.Sprintf("%s%d", l.Weights.Enc, l.Weights.Bits)
				}
				n := len(l.Weights.Float) + len(l.Weights.Levels)
				r.Params = n + len(l.Bias)
				r.Bytes = l.Weights.bytesOnDisk() + 4*len(l.Bias)
				r.FP32Bytes = 4 * r.Params
			case LayerBatchNorm:
				r.Params = len(l.Gamma) + len(l.Beta) + len(l.Mean) + len(l.Var)
				r.Bytes, r.FP32Bytes = 4*r.Params, 4*r.Params
			case LayerResidual:
				out = append(out, r)
				walk(l.Body, prefix+l.Name+"/")
				walk(l.Shortcut, prefix+l.Name+"/shortcut/")
				continue
			}
			out = append(out, r)
		}
	}
	walk(m.spec.Layers, "")
	return out
}
