package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPerm checks both layout conversions against explicitly indexed values.
func TestPerm(t *testing.T) {
	// Conv: O=2, I=3, K=2. Value 1000o+100i+10y+x at PyTorch [o][i][y][x].
	conv := perm{conv: true, o: 2, i: 3, k: 2}
	// Linear after a 2×3×4 (H×W×C) map, 2 outputs. Value 1000o+100c+10y+x at PyTorch [o][c·H·W + y·W + x].
	dense := perm{chw: true, o: 2, h: 2, w: 3, c: 4}
	for _, c := range []struct {
		name        string
		p           perm
		n           int
		torch, lowb func(idx int) float32 // the value at a PyTorch / lowbit index
	}{
		{"conv", conv, 24,
			func(j int) float32 { return float32(1000*(j/12) + 100*(j/4%3) + 10*(j/2%2) + j%2) },
			func(j int) float32 { return float32(1000*(j/12) + 10*(j/6%2) + j/3%2 + 100*(j%3)) }},
		{"linear", dense, 48,
			func(j int) float32 { return float32(1000*(j/24) + 100*(j%24/6) + 10*(j%6/3) + j%3) },
			func(j int) float32 { return float32(1000*(j/24) + 10*(j%24/12) + j%12/4 + 100*(j%4)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, want := make([]float32, c.n), make([]float32, c.n)
			for j := range src {
				src[j], want[j] = c.torch(j), c.lowb(j)
			}
			got := make([]float32, c.n)
			c.p.toLowbit(got, src)
			back := make([]float32, c.n)
			c.p.toTorch(back, got)
			for j := range got {
				if got[j] != want[j] || back[j] != src[j] {
					t.Fatalf("[%d]: lowbit %v want %v; back %v want %v", j, got[j], want[j], back[j], src[j])
				}
			}
		})
	}
}

// safetensorsFile builds a safetensors file by hand.
func safetensorsFile(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// TestDecodeDTypes reads F16, BF16 and F64 tensors as float32.
func TestDecodeDTypes(t *testing.T) {
	data := []byte{0x00, 0x3c, 0x00, 0xc0}      // F16 1, −2
	data = append(data, 0x80, 0x3f, 0x40, 0xc0) // BF16 1, −3
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(0.25))
	f := safetensorsFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"c":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]}}`, data)
	path := filepath.Join(t.TempDir(), "d.safetensors")
	if err := os.WriteFile(path, f, 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{"a": {1, -2}, "b": {1, -3}, "c": {0.25}} {
		got := sd.Tensors[name].Data
		if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// zipFile builds a torch.save-like zip file from records.
func zipFile(t testing.TB, records map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, b := range records {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorPickle pickles {name: _rebuild_tensor_v2(storage('0', numel), offset, size, stride)} (protocol 2).
func tensorPickle(numel, offset int, size, stride []int) []byte {
	var p []byte
	tuple := func(v []int) {
		p = append(p, '(')
		for _, x := range v {
			p = append(p, 'J')
			p = binary.LittleEndian.AppendUint32(p, uint32(int32(x)))
		}
		p = append(p, 't')
	}
	p = append(p, 0x80, 2, '}', 'X', 1, 0, 0, 0, 'w')
	p = append(p, "ctorch._utils\n_rebuild_tensor_v2\n("...)
	p = append(p, "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"...)
	p = append(p, 'J')
	p = binary.LittleEndian.AppendUint32(p, uint32(numel))
	p = append(p, 't', 'Q', 'J')
	p = binary.LittleEndian.AppendUint32(p, uint32(offset))
	tuple(size)
	tuple(stride)
	p = append(p, 0x89, ')', 't', 'R', 's', '.')
	return p
}

// TestReadPT reads hand-made torch.save files, good and bad.
func TestReadPT(t *testing.T) {
	floats := make([]byte, 0, 24)
	for _, v := range []float32{0, 1, 2, 3, 4, 5} {
		floats = binary.LittleEndian.AppendUint32(floats, math.Float32bits(v))
	}
	for _, c := range []struct {
		name    string
		records map[string][]byte
		want    []float32 // nil: an error containing wantErr
		wantErr string
	}{
		{"contiguous", map[string][]byte{"m/data.pkl": tensorPickle(6, 0, []int{2, 3}, []int{3, 1}), "m/data/0": floats}, []float32{0, 1, 2, 3, 4, 5}, ""},
		{"transposed view", map[string][]byte{"m/data.pkl": tensorPickle(6, 0, []int{3, 2}, []int{1, 3}), "m/data/0": floats}, []float32{0, 3, 1, 4, 2, 5}, ""},
		{"little-endian", map[string][]byte{"m/data.pkl": tensorPickle(6, 0, []int{6}, []int{1}), "m/data/0": floats, "m/byteorder": []byte("little")}, []float32{0, 1, 2, 3, 4, 5}, ""},
		{"offset view", map[string][]byte{"m/data.pkl": tensorPickle(6, 4, []int{2}, []int{1}), "m/data/0": floats}, []float32{4, 5}, ""},
		{"view past the storage", map[string][]byte{"m/data.pkl": tensorPickle(6, 1, []int{2, 3}, []int{3, 1}), "m/data/0": floats}, nil, "exceed a storage of 6"},
		{"storage larger than its record", map[string][]byte{"m/data.pkl": tensorPickle(1<<30, 0, []int{2}, []int{1}), "m/data/0": floats}, nil, "its record holds 24 bytes"},
		{"no storage record", map[string][]byte{"m/data.pkl": tensorPickle(6, 0, []int{6}, []int{1})}, nil, "no record data/0"},
		{"no data.pkl", map[string][]byte{"m/data/0": floats}, nil, "no data.pkl"},
		{"TorchScript", map[string][]byte{"m/data.pkl": {'.'}, "m/constants.pkl": {'.'}}, nil, "TorchScript"},
		{"big-endian", map[string][]byte{"m/data.pkl": {'.'}, "m/byteorder": []byte("big")}, nil, "byteorder"},
		{"oversized string", map[string][]byte{"m/data.pkl": {0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, '.'}}, nil, "declares 2147483647 bytes"},
		{"not a dict", map[string][]byte{"m/data.pkl": {0x80, 2, ']', '.'}}, nil, "not a state_dict"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pt")
			if err := os.WriteFile(path, zipFile(t, c.records), 0o644); err != nil {
				t.Fatal(err)
			}
			sd, err := ReadFile(path)
			if c.want == nil {
				if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want ErrFormat naming %s and saying %q", err, path, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := sd.Tensors["w"].Data
			if len(got) != len(c.want) {
				t.Fatalf("w = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("w = %v, want %v", got, c.want)
				}
			}
		})
	}
}

// TestReadBadFiles checks that damaged files give errors that name them.
func TestReadBadFiles(t *testing.T) {
	good := safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header too small"},
		{"truncated", good[:len(good)-1], "metadata incomplete buffer"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "header too large"},
		{"shape and offsets disagree", safetensorsFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "offsets mismatch"},
		{"legacy torch.save", []byte{0x80, 0x02, 0x8a, 0x0a}, "legacy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want ErrFormat naming the file and saying %q", err, c.want)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.pt")); err == nil || !strings.Contains(err.Error(), "absent.pt") {
		t.Errorf("absent file: %v", err)
	}
}

// FuzzReadFile feeds arbitrary bytes to the reader: errors are fine, panics are not.
func FuzzReadFile(f *testing.F) {
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(zipFile(f, map[string][]byte{"m/data.pkl": tensorPickle(6, 0, []int{2, 3}, []int{3, 1}), "m/data/0": make([]byte, 24)}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ReadFile(path)
	})
}

// TestHeaderLengthLikePickle reads a safetensors file whose header length (640 =
// 0x280) starts with the bytes of a protocol-2 pickle, 0x80 0x02.
func TestHeaderLengthLikePickle(t *testing.T) {
	h := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	h += strings.Repeat(" ", 640-len(h))
	path := filepath.Join(t.TempDir(), "h.safetensors")
	if err := os.WriteFile(path, safetensorsFile(h, []byte{0, 0, 0x80, 0x3f}), 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.Tensors["a"].Data; len(got) != 1 || got[0] != 1 {
		t.Errorf("a = %v, want [1]", got)
	}
}
