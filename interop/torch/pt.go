package torch

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// storageDTypes maps torch.save's storage classes to dtypes.
var storageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
	"ByteStorage": "U8", "BoolStorage": "BOOL",
}

type storageClass struct{ dtype string }

type storage struct {
	dtype string
	raw   []byte
}

// ptTensor is what _rebuild_tensor_v2 makes: a strided view of a storage.
type ptTensor struct {
	st           *storage
	offset       int
	size, stride []int
}

// ptLoader reads the storages of one zip file as the unpickler asks for them.
type ptLoader struct {
	records map[string]*zip.File
	prefix  string // "NAME/" of NAME/data.pkl
	loaded  map[string]*storage
	budget  int64 // storage bytes left
}

// readPT reads a torch.save zip file (PyTorch ≥ 1.6): NAME/data.pkl pickles the
// state_dict; each tensor's storage is the record NAME/data/KEY.
func readPT(r io.ReaderAt, size int64) (*StateDict, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a torch.save zip file: %w", err)
	}
	l := &ptLoader{records: map[string]*zip.File{}, loaded: map[string]*storage{}, budget: MaxFileBytes}
	var pkl *zip.File
	for _, f := range zr.File {
		l.records[f.Name] = f
		switch path.Base(f.Name) {
		case "constants.pkl":
			return nil, errors.New("a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead")
		case "data.pkl":
			if pkl != nil {
				return nil, errors.New("more than one data.pkl")
			}
			pkl, l.prefix = f, strings.TrimSuffix(f.Name, "data.pkl")
		}
	}
	if pkl == nil {
		return nil, errors.New("no data.pkl in the zip file")
	}
	if bo, ok := l.records[l.prefix+"byteorder"]; ok {
		if b, err := readRecord(bo, int64(min(bo.UncompressedSize64, 16))); err != nil || string(b) != "little" {
			return nil, fmt.Errorf("byteorder %q, only little-endian files are read", b)
		}
	}
	if pkl.UncompressedSize64 > MaxPickleBytes {
		return nil, fmt.Errorf("data.pkl is %d bytes, more than the %d-byte limit", pkl.UncompressedSize64, MaxPickleBytes)
	}
	data, err := readRecord(pkl, int64(pkl.UncompressedSize64))
	if err != nil {
		return nil, err
	}
	if err := scanPickle(data); err != nil {
		return nil, err
	}
	obj, err := l.unpickle(data)
	if err != nil {
		return nil, err
	}
	return stateDictOf(obj, true)
}

// readRecord reads exactly n bytes of a zip record.
func readRecord(f *zip.File, n int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return b, nil
}

// unpickle runs gopickle's unpickler over a scanned pickle, turning a panic on
// malformed input into an error.
func (l *ptLoader) unpickle(data []byte) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("malformed data.pkl: %v", r)
		}
	}()
	u := pickle.NewUnpickler(strings.NewReader(string(data)))
	u.FindClass = l.findClass
	u.PersistentLoad = l.persistentLoad
	obj, err = u.Load()
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	return obj, nil
}

type callable func(args ...any) (any, error)

func (c callable) Call(args ...any) (any, error) { return c(args...) }

func (l *ptLoader) findClass(module, name string) (any, error) {
	if module == "torch" {
		if dt, ok := storageDTypes[name]; ok {
			return &storageClass{dt}, nil
		}
	}
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return callable(rebuildTensor), nil
	case "torch._utils._rebuild_parameter":
		return callable(func(args ...any) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("_rebuild_parameter without arguments")
			}
			return args[0], nil
		}), nil
	}
	return types.NewGenericClass(module, name), nil
}

// persistentLoad resolves ('storage', class, key, location, numel).
func (l *ptLoader) persistentLoad(id any) (any, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 || t.Get(0) != "storage" {
		return nil, fmt.Errorf("unexpected persistent id %v", id)
	}
	class, ok1 := t.Get(1).(*storageClass)
	key, ok2 := t.Get(2).(string)
	n, ok3 := t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || n < 0 {
		return nil, fmt.Errorf("unexpected storage %v", id)
	}
	if s, ok := l.loaded[key]; ok {
		if s.dtype != class.dtype {
			return nil, fmt.Errorf("storage %s read as %s and %s", key, s.dtype, class.dtype)
		}
		return s, nil
	}
	rec, ok := l.records[l.prefix+"data/"+key]
	if !ok {
		return nil, fmt.Errorf("storage %s has no record data/%s", key, key)
	}
	size := int64(dtypeSize[class.dtype])
	if int64(n) > l.budget/size || uint64(int64(n)*size) > rec.UncompressedSize64 {
		return nil, fmt.Errorf("storage %s declares %d values of %s; its record holds %d bytes", key, n, class.dtype, rec.UncompressedSize64)
	}
	raw, err := readRecord(rec, int64(n)*size)
	if err != nil {
		return nil, err
	}
	l.budget -= int64(n) * size
	s := &storage{dtype: class.dtype, raw: raw}
	l.loaded[key] = s
	return s, nil
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]).
func rebuildTensor(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	st, ok1 := args[0].(*storage)
	off, ok2 := args[1].(int)
	size, err1 := ints(args[2])
	stride, err2 := ints(args[3])
	if !ok1 || !ok2 || err1 != nil || err2 != nil || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2(%v, %v, %v, %v): unexpected arguments", args[0], args[1], args[2], args[3])
	}
	return &ptTensor{st: st, offset: off, size: size, stride: stride}, nil
}

func ints(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%v is not a tuple", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		if out[i], ok = t.Get(i).(int); !ok {
			return nil, fmt.Errorf("%v is not a tuple of ints", v)
		}
	}
	return out, nil
}

// stateDictOf turns the unpickled object into a StateDict: a dict of name → tensor,
// or (descend) a dict whose "state_dict" or "model" entry is one.
func stateDictOf(obj any, descend bool) (*StateDict, error) {
	var keys, vals []any
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			if kv, ok := e.Value.(*types.OrderedDictEntry); ok {
				keys, vals = append(keys, kv.Key), append(vals, kv.Value)
			}
		}
	case *types.Dict:
		for _, kv := range *d {
			keys, vals = append(keys, kv.Key), append(vals, kv.Value)
		}
	default:
		return nil, fmt.Errorf("data.pkl holds a %T, not a state_dict (save model.state_dict())", obj)
	}
	sd := newStateDict()
	var nested any
	for i, k := range keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("state_dict key %v is not a string", k)
		}
		if name == "state_dict" || name == "model" {
			nested = vals[i]
		}
		t := Tensor{DType: fmt.Sprintf("non-tensor %T", vals[i])}
		if pt, ok := vals[i].(*ptTensor); ok {
			var err error
			if t, err = pt.tensor(); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", name, err)
			}
		}
		if err := sd.add(name, t); err != nil {
			return nil, err
		}
	}
	if descend && nested != nil && !sd.hasTensors() {
		return stateDictOf(nested, false)
	}
	return sd, nil
}

func (sd *StateDict) hasTensors() bool {
	for _, t := range sd.Tensors {
		if t.Shape != nil {
			return true
		}
	}
	return false
}

// tensor gathers a strided view into a dense row-major Tensor, checking that
// every element it addresses lies inside the storage.
func (t *ptTensor) tensor() (Tensor, error) {
	size := dtypeSize[t.st.dtype]
	have := len(t.st.raw) / size
	n, err := numel(t.size, have)
	if err != nil || t.offset < 0 {
		return Tensor{}, fmt.Errorf("size %v at offset %d in a storage of %d values", t.size, t.offset, have)
	}
	shape := append([]int{}, t.size...)
	if n == 0 {
		return decode(t.st.dtype, shape, nil), nil
	}
	last := t.offset // the farthest element addressed
	for i, d := range t.size {
		s := t.stride[i]
		if s < 0 || d > 1 && s > (have-1-last)/(d-1) {
			return Tensor{}, fmt.Errorf("size %v, stride %v at offset %d exceed a storage of %d values", t.size, t.stride, t.offset, have)
		}
		last += (d - 1) * s
	}
	if last >= have {
		return Tensor{}, fmt.Errorf("offset %d exceeds a storage of %d values", t.offset, have)
	}
	if t.contiguous() {
		return decode(t.st.dtype, shape, t.st.raw[t.offset*size:(t.offset+n)*size]), nil
	}
	raw := make([]byte, 0, n*size)
	idx := make([]int, len(t.size))
	for range n {
		at := t.offset
		for i, v := range idx {
			at += v * t.stride[i]
		}
		raw = append(raw, t.st.raw[at*size:(at+1)*size]...)
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < t.size[i] {
				break
			}
			idx[i] = 0
		}
	}
	return decode(t.st.dtype, shape, raw), nil
}

// contiguous reports row-major strides (dimensions of size 1 may have any stride).
func (t *ptTensor) contiguous() bool {
	want := 1
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.size[i]
	}
	return true
}
