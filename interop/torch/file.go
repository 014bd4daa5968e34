package torch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
)

// Limits on what a file may declare, checked before allocating.
const (
	MaxFileBytes   = 4 << 30  // a whole .safetensors or .pt file
	MaxPickleBytes = 64 << 20 // a .pt file's data.pkl
	MaxTensors     = 1 << 16  // entries in one state_dict
	maxDims        = 8
)

// ErrFormat reports a file that is not a readable state_dict.
var ErrFormat = errors.New("torch: unreadable state_dict")

// Tensor is one state_dict entry in PyTorch's row-major layout. Data holds the
// values of a float tensor (converted to float32) and is nil for other dtypes.
type Tensor struct {
	DType string // safetensors' name: F32, F16, BF16, F64, I64, ...
	Shape []int
	Data  []float32
	Int   []int64 // the values of an I64 tensor written by Export (num_batches_tracked)
}

// StateDict is a set of named tensors, with the order they were read or made in.
type StateDict struct {
	Names   []string
	Tensors map[string]Tensor
}

func newStateDict() *StateDict { return &StateDict{Tensors: map[string]Tensor{}} }

func (sd *StateDict) add(name string, t Tensor) error {
	if _, dup := sd.Tensors[name]; dup {
		return fmt.Errorf("tensor %q appears twice", name)
	}
	if len(sd.Names) >= MaxTensors {
		return fmt.Errorf("more than %d tensors", MaxTensors)
	}
	sd.Names = append(sd.Names, name)
	sd.Tensors[name] = t
	return nil
}

// ReadFile reads a state_dict from a safetensors file or a torch.save zip file
// (told apart by content, not by name). Errors name the file.
func ReadFile(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torch: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("torch: %w", err)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d-byte limit", ErrFormat, path, st.Size(), int64(MaxFileBytes))
	}
	var head [8]byte
	n, _ := io.ReadFull(f, head[:])
	var sd *StateDict
	switch {
	case n >= 4 && bytes.Equal(head[:4], []byte("PK\x03\x04")):
		sd, err = readPT(f, st.Size())
	case n >= 4 && bytes.Equal(head[:4], []byte{0x80, 0x02, 0x8a, 0x0a}): // pickle of the legacy magic number
		err = errors.New("a legacy (pre-1.6) torch.save file; save it again with a current PyTorch")
	default:
		sd, err = readSafetensors(f, st.Size())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, path, err)
	}
	return sd, nil
}

// numel checks a shape and returns its element count, capped by limit.
func numel(shape []int, limit int) (int, error) {
	if len(shape) > maxDims {
		return 0, fmt.Errorf("shape %v has more than %d dimensions", shape, maxDims)
	}
	n := 1
	for _, d := range shape {
		if d < 0 || d > limit {
			return 0, fmt.Errorf("shape %v", shape)
		}
		if d > 0 && n > limit/d {
			return 0, fmt.Errorf("shape %v exceeds %d elements", shape, limit)
		}
		n *= d
	}
	return n, nil
}

// dtypeSize is the byte size of the dtypes this package reads.
var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

// decode turns little-endian raw values of dtype into a Tensor (Data only for floats).
func decode(dtype string, shape []int, raw []byte) Tensor {
	t := Tensor{DType: dtype, Shape: shape}
	size := dtypeSize[dtype]
	if size == 0 {
		return t
	}
	n := len(raw) / size
	le := binary.LittleEndian
	switch dtype {
	case "F32":
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case "F16":
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(pytorch.FloatBits16to32(le.Uint16(raw[2*i:])))
		}
	case "BF16":
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	case "F64":
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	case "I64":
		t.Int = make([]int64, n)
		for i := range t.Int {
			t.Int[i] = int64(le.Uint64(raw[8*i:]))
		}
	}
	return t
}

// sortedKeys lists a map's keys in order (for stable error messages).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isBatchCount reports BatchNorm's num_batches_tracked, which import ignores.
func isBatchCount(name string) bool { return strings.HasSuffix(name, ".num_batches_tracked") }
