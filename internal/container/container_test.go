package container

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var (
	errBad   = errors.New("bad")
	errNewer = errors.New("newer")
	testFmt  = Format{Magic: "TESTFILE", Version: 2, MaxHeader: 64, MaxFile: 1 << 10, Bad: errBad, Newer: errNewer, Noun: "test file"}
)

// legacy builds the layout byte by byte, as the formats wrote it before this package.
func legacy(magic string, ver uint32, hdr []byte, payload []byte) []byte {
	var buf bytes.Buffer
	buf.WriteString(magic)
	binary.Write(&buf, binary.LittleEndian, ver)
	binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	buf.Write(payload)
	binary.Write(&buf, binary.LittleEndian, crc32.ChecksumIEEE(buf.Bytes()))
	return buf.Bytes()
}

func TestEncodeMatchesLegacyLayout(t *testing.T) {
	hdr, p1, p2 := []byte(`{"a":1}`), []byte{1, 2, 3}, []byte{4}
	got := testFmt.Encode(hdr, p1, p2)
	if want := legacy("TESTFILE", 2, hdr, []byte{1, 2, 3, 4}); !bytes.Equal(got, want) {
		t.Fatalf("Encode = %x, want %x", got, want)
	}
	h, p, err := testFmt.Decode(got)
	if err != nil || string(h) != string(hdr) || !bytes.Equal(p, []byte{1, 2, 3, 4}) {
		t.Fatalf("Decode = %q %v %v", h, p, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := testFmt.Encode([]byte(`{}`), []byte{9, 9})
	flipped := append([]byte(nil), good...)
	flipped[17] ^= 1
	bigHeader := legacy("TESTFILE", 1, bytes.Repeat([]byte(" "), 65), nil)
	overrun := legacy("TESTFILE", 1, nil, nil)
	binary.LittleEndian.PutUint32(overrun[12:], 5)
	Reseal(overrun)
	for _, tc := range []struct {
		name string
		b    []byte
		is   error
		want string
	}{
		{"empty", nil, errBad, "too short"},
		{"magic", append([]byte("NOTATEST"), good[8:]...), errBad, "wrong magic"},
		{"newer", legacy("TESTFILE", 3, nil, nil), errNewer, "version 3"},
		{"version 0", legacy("TESTFILE", 0, nil, nil), errBad, "version 0"},
		{"checksum", flipped, errBad, "checksum"},
		{"header over the cap", bigHeader, errBad, "limit of 64"},
		{"header over the file", overrun, errBad, "exceeds the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := testFmt.Decode(tc.b)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestReadFileRefusesBeforeReading(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", testFmt.Encode([]byte(`{}`)))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"device", "/dev/zero", "not a regular file"},
		{"fifo", fifo, "not a regular file"},
		{"directory", dir, "not a regular file"},
		{"too big", write("big", append([]byte("TESTFILE"), make([]byte, 2000)...)), "limit of 1024 bytes"},
		{"wrong magic", write("junk", make([]byte, 100)), "wrong magic"},
		{"too short", write("short", []byte("TESTFILE")), "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testFmt.ReadFile(tc.path)
			if !errors.Is(err, errBad) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("err = %v, want %q naming %s", err, tc.want, tc.path)
			}
		})
	}
	if b, err := testFmt.ReadFile(good); err != nil || len(b) != Fixed+2+4 {
		t.Fatalf("ReadFile(good) = %d bytes, %v", len(b), err)
	}
}

func TestBlobs(t *testing.T) {
	v := []uint8{1, 0, 3, 2, 1}
	packed := PackBits(v, 2)
	payload := AppendF32(packed, []float32{1.5, -2})
	table := []Blob{{Type: "bits", Width: 2, Len: 5}, {Type: "f32", Len: 2}}
	bs, err := testFmt.SplitBlobs(payload, table)
	if err != nil {
		t.Fatal(err)
	}
	if got := UnpackBits(bs[0], 2, 5); !bytes.Equal(got, v) {
		t.Errorf("bits = %v, want %v", got, v)
	}
	if f := F32(bs[1]); len(f) != 2 || f[0] != 1.5 || f[1] != -2 {
		t.Errorf("f32 = %v", f)
	}
	for _, tc := range []struct {
		name  string
		table []Blob
		want  string
	}{
		{"trailing", table[:1], "after the last blob"},
		{"overrun", []Blob{{Type: "f32", Len: 4}}, "exceeds the file"},
		{"negative", []Blob{{Type: "f32", Len: -1}}, "length -1"},
		{"huge", []Blob{{Type: "bits", Width: 8, Len: 1 << 40}}, "exceeds the file"},
		{"width", []Blob{{Type: "bits", Width: 9, Len: 1}}, "width 9"},
		{"type", []Blob{{Type: "f64", Len: 1}}, `"f64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := testFmt.SplitBlobs(payload, tc.table); !errors.Is(err, errBad) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		max  int
		dims []int
		n    int
		ok   bool
	}{
		{100, []int{2, 3}, 6, true},
		{100, nil, 1, true},
		{0, nil, 0, false},
		{100, []int{0}, 0, false},
		{100, []int{-1, -1}, 0, false},
		{100, []int{11, 10}, 0, false},
		{1 << 62, []int{1 << 31, 1 << 31, 1 << 31}, 0, false},
	} {
		if n, ok := Count(tc.max, tc.dims...); n != tc.n || ok != tc.ok {
			t.Errorf("Count(%d, %v) = %d, %v; want %d, %v", tc.max, tc.dims, n, ok, tc.n, tc.ok)
		}
	}
}
