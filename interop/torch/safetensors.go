package torch

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/nlpodyssey/safetensors"

	"github.com/lowbit/lowbit/internal/atomicfile"
)

// readSafetensors reads a whole safetensors file of the given size (≤ MaxFileBytes).
// The library checks that every tensor's offsets are contiguous, match its shape
// and dtype, and end with the file.
func readSafetensors(r io.ReaderAt, size int64) (*StateDict, error) {
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("neither a safetensors file nor a torch.save zip file: %w", err)
	}
	sd := newStateDict()
	for _, nt := range st.Tensors() {
		shape := make([]int, len(nt.TensorView.Shape()))
		for i, d := range nt.TensorView.Shape() {
			if d > MaxFileBytes {
				return nil, fmt.Errorf("tensor %q: shape %v", nt.Name, nt.TensorView.Shape())
			}
			shape[i] = int(d)
		}
		if _, err := numel(shape, MaxFileBytes); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", nt.Name, err)
		}
		if err := sd.add(nt.Name, decode(nt.TensorView.DType().String(), shape, nt.TensorView.Data())); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// view is a Tensor serialised for the safetensors writer.
type view struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

func (v view) DType() safetensors.DType { return v.dtype }
func (v view) Shape() []uint64          { return v.shape }
func (v view) Data() []byte             { return v.data }
func (v view) DataLen() uint64          { return uint64(len(v.data)) }

// WriteSafetensors writes sd's float (F32) and Int (I64) tensors to path atomically
// (a temp file renamed over it), with meta as the file's __metadata__.
func WriteSafetensors(path string, sd *StateDict, meta map[string]string) error {
	views := make(map[string]view, len(sd.Names))
	for _, name := range sd.Names {
		t := sd.Tensors[name]
		n, err := numel(t.Shape, math.MaxInt32)
		if err != nil {
			return fmt.Errorf("torch: %s: tensor %q: %w", path, name, err)
		}
		v := view{shape: make([]uint64, len(t.Shape))}
		for i, d := range t.Shape {
			v.shape[i] = uint64(d)
		}
		switch {
		case t.Data != nil && len(t.Data) == n:
			v.dtype, v.data = safetensors.F32, make([]byte, 0, 4*n)
			for _, x := range t.Data {
				v.data = binary.LittleEndian.AppendUint32(v.data, math.Float32bits(x))
			}
		case t.Int != nil && len(t.Int) == n:
			v.dtype, v.data = safetensors.I64, make([]byte, 0, 8*n)
			for _, x := range t.Int {
				v.data = binary.LittleEndian.AppendUint64(v.data, uint64(x))
			}
		default:
			return fmt.Errorf("torch: %s: tensor %q has shape %v but %d float and %d int values", path, name, t.Shape, len(t.Data), len(t.Int))
		}
		views[name] = v
	}
	b, err := safetensors.Serialize(views, meta)
	if err != nil {
		return fmt.Errorf("torch: %s: %w", path, err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("torch: %w", err)
	}
	return nil
}
