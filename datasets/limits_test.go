package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// idxHeader is an images IDX header of n×h×w followed by body.
func idxHeader(n, h, w uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, MagicImages)
	for _, d := range []uint32{n, h, w} {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, body...)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestIDXLimits: headers that announce more than the cap or than the file
// can hold are refused before anything is inflated or allocated.
func TestIDXLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zeros := make([]byte, 4<<20) // inflates 1000:1: a 4 MB gzip bomb in a few KB
	for _, tc := range []struct {
		name, path string
		is         error
		want       string
	}{
		{"gzip bomb over the cap", write("bomb.gz", gzipBytes(idxHeader(5000000, 28, 28, zeros))), ErrFormat, "over the limit of 1073741824"},
		{"gzip bomb over its size", write("bomb2.gz", gzipBytes(idxHeader(1000000, 28, 28, zeros))), ErrFormat, "more than a"},
		{"raw over its size", write("raw", idxHeader(1000000, 28, 28, zeros[:1000])), nil, "truncated at image 1"},
		{"device", "/dev/zero", ErrFormat, "not a regular file"},
		{"directory", dir, ErrFormat, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDX(tc.path)
			runtime.ReadMemStats(&after)
			wantErr(t, err, tc.path, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
				t.Errorf("allocated %d MB before refusing", d>>20)
			}
		})
	}
	small := write("ok.gz", gzipBytes(idxHeader(2, 2, 2, make([]byte, 8))))
	if f, err := ReadIDX(small); err != nil || len(f.Data) != 8 {
		t.Fatalf("a small gzip file: %v", err)
	}
}

// hugePNG is a valid 1×1 PNG whose header claims w×h pixels (CRC fixed).
func hugePNG(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// 8-byte signature, then IHDR: length(4) "IHDR"(4) width(4) height(4) ... CRC over type+data.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestImagePixelLimit(t *testing.T) {
	big := hugePNG(t, 20000, 20000)
	if cfg, err := png.DecodeConfig(bytes.NewReader(big)); err != nil || cfg.Width != 20000 {
		t.Fatalf("test PNG header: %+v %v", cfg, err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeImage(big, "big.png")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrImageTooLarge) || !strings.Contains(err.Error(), "big.png") || !strings.Contains(err.Error(), "20000x20000") {
		t.Fatalf("DecodeImage = %v, want ErrImageTooLarge naming big.png", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
		t.Errorf("allocated %d MB before refusing", d>>20)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big.png")
	os.WriteFile(p, big, 0o644)
	if _, err := ReadImage(p); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("ReadImage = %v", err)
	}
	if _, err := ReadImage("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadImage(/dev/zero) = %v", err)
	}
	if _, err := DecodeImage(hugePNG(t, 1, 1), "one.png"); err != nil {
		t.Errorf("a 1×1 PNG: %v", err)
	}
}
