// Package container is the envelope shared by lowbit's two file formats,
// checkpoints (recipes) and packed model files (bitpack), so that the size
// caps and integrity checks that guard them exist once:
//
//	8-byte magic | uint32 format version | uint32 header length H |
//	H bytes of JSON header | payload (the tensors, back to back) |
//	uint32 CRC-32 (IEEE) of every byte before it
//
// All integers are little endian. A Format names the magic, the newest
// version a build reads and writes, and the caps; Decode checks length,
// magic, version, checksum and header length, in that order, before any
// allocation sized by the file, and ReadFile refuses a path that is not a
// regular file, is larger than the cap, or does not start with the magic,
// before reading it whole. The payload's layout belongs to each format; a
// Payload hands out its sections with bounds checks, and Count multiplies
// dimensions under a cap.
package container

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// Fixed is the length of the fixed prefix: magic, version and header length.
const Fixed = 16

// Format describes one file format built on the container.
type Format struct {
	Magic   string // exactly 8 bytes
	Version uint32 // newest version this build reads; the one it writes
	// MaxHeader caps the header length and MaxFile the file size, in bytes.
	MaxHeader int
	MaxFile   int64
	// Bad wraps every error about a malformed file; Newer a file of a newer version.
	Bad, Newer error
	// Noun names the format in messages ("checkpoint", "model file").
	Noun string
}

// Encode returns the file bytes of a header and the payload sections.
func (f *Format) Encode(header []byte, payload ...[]byte) []byte {
	n := Fixed + len(header) + 4
	for _, p := range payload {
		n += len(p)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, f.Magic...)
	buf = binary.LittleEndian.AppendUint32(buf, f.Version)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(header)))
	buf = append(buf, header...)
	for _, p := range payload {
		buf = append(buf, p...)
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

// EncodeJSON marshals h and encodes it with the payload.
func (f *Format) EncodeJSON(h any, payload ...[]byte) ([]byte, error) {
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", f.Noun, err)
	}
	return f.Encode(hdr, payload...), nil
}

// Decode verifies b and returns its header and payload (views into b).
func (f *Format) Decode(b []byte) (header, payload []byte, err error) {
	if err := f.checkPrefix(b); err != nil {
		return nil, nil, err
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, nil, f.bad("checksum mismatch (file truncated or corrupted)")
	}
	return f.split(body)
}

// DecodeUnchecked is Decode without the checksum test, for fuzzing the
// structure behind it; b still needs its 4 trailing checksum bytes.
func (f *Format) DecodeUnchecked(b []byte) (header, payload []byte, err error) {
	if err := f.checkPrefix(b); err != nil {
		return nil, nil, err
	}
	return f.split(b[:len(b)-4])
}

func (f *Format) checkPrefix(b []byte) error {
	if len(b) < Fixed+4 {
		return f.bad("file too short (%d bytes)", len(b))
	}
	if string(b[:len(f.Magic)]) != f.Magic {
		return f.bad("not a lowbit %s (wrong magic)", f.Noun)
	}
	ver := binary.LittleEndian.Uint32(b[len(f.Magic):])
	if ver > f.Version {
		return fmt.Errorf("%w: format version %d, this build reads up to %d", f.Newer, ver, f.Version)
	}
	if ver == 0 {
		return f.bad("format version 0")
	}
	return nil
}

func (f *Format) split(body []byte) (header, payload []byte, err error) {
	hlen := uint64(binary.LittleEndian.Uint32(body[len(f.Magic)+4:]))
	if hlen > uint64(f.MaxHeader) {
		return nil, nil, f.bad("header length %d exceeds the limit of %d bytes", hlen, f.MaxHeader)
	}
	if hlen > uint64(len(body)-Fixed) {
		return nil, nil, f.bad("header length %d exceeds the file", hlen)
	}
	end := Fixed + int(hlen)
	return body[Fixed:end], body[end:], nil
}

// Reseal rewrites the trailing checksum of b in place (tests and fuzzing
// use it to reach the checks behind the checksum).
func Reseal(b []byte) {
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	}
}

func (f *Format) bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", f.Bad, fmt.Sprintf(format, args...))
}

// ErrNotRegular reports a path that is not a regular file (a device, FIFO or directory).
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads a file of format f. It refuses, before reading the whole
// file, a path that is not a regular file, one larger than f.MaxFile, and
// one that does not start with f.Magic. Errors name the path.
func (f *Format) ReadFile(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO blocks until a writer comes.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: %w (mode %v)", f.Bad, path, ErrNotRegular, st.Mode().Type())
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: %w (mode %v)", f.Bad, path, ErrNotRegular, st.Mode().Type())
	}
	if st.Size() < Fixed+4 {
		return nil, fmt.Errorf("%w: %s: file too short (%d bytes)", f.Bad, path, st.Size())
	}
	if st.Size() > f.MaxFile {
		return nil, fmt.Errorf("%w: %s: %d bytes exceeds the limit of %d bytes for a %s", f.Bad, path, st.Size(), f.MaxFile, f.Noun)
	}
	head := make([]byte, len(f.Magic))
	if _, err := io.ReadFull(fh, head); err != nil || string(head) != f.Magic {
		return nil, fmt.Errorf("%w: %s: not a lowbit %s (wrong magic)", f.Bad, path, f.Noun)
	}
	b := make([]byte, st.Size())
	copy(b, head)
	n, err := io.ReadFull(fh, b[len(head):])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b[:len(head)+n], nil // a file that shrank fails the checksum
}

// Count returns the product of dims when every dim is in [1, max] and the
// product is at most max; ok is false otherwise.
func Count(max int, dims ...int) (n int, ok bool) {
	n = 1
	for _, d := range dims {
		if d < 1 || d > max || n > max/d {
			return 0, false
		}
		n *= d
	}
	if n > max {
		return 0, false
	}
	return n, true
}

// Payload hands out consecutive sections of a payload with bounds checks.
type Payload struct {
	b   []byte
	off int
}

// NewPayload reads sections from b.
func NewPayload(b []byte) *Payload { return &Payload{b: b} }

// Next returns the next n bytes, or false when fewer remain.
func (p *Payload) Next(n int) ([]byte, bool) {
	if n < 0 || n > len(p.b)-p.off {
		return nil, false
	}
	s := p.b[p.off : p.off+n]
	p.off += n
	return s, true
}

// Left is the number of bytes not handed out yet.
func (p *Payload) Left() int { return len(p.b) - p.off }

// AppendF32 appends v as little-endian float32 values.
func AppendF32(dst []byte, v []float32) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}

// F32 decodes len(b)/4 little-endian float32 values.
func F32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// DecodeHeader unmarshals a JSON header into h; strict refuses unknown fields.
func (f *Format) DecodeHeader(hdr []byte, h any, strict bool) error {
	var err error
	if strict {
		dec := json.NewDecoder(bytes.NewReader(hdr))
		dec.DisallowUnknownFields()
		err = dec.Decode(h)
	} else {
		err = json.Unmarshal(hdr, h)
	}
	if err != nil {
		return f.bad("header: %v", err)
	}
	return nil
}

// Blob is one entry of a blob table: Type "f32" holds Len float32 values;
// "bits" holds Len values of Width (1-8) bits, packed LSB first into
// ceil(Len·Width/8) bytes.
type Blob struct {
	Type  string `json:"type"`
	Width int    `json:"width,omitempty"`
	Len   int    `json:"len"`
}

// SplitBlobs cuts payload into the table's blobs; every byte must belong to one.
func (f *Format) SplitBlobs(payload []byte, table []Blob) ([][]byte, error) {
	p := NewPayload(payload)
	out := make([][]byte, 0, min(len(table), len(payload)+1))
	for i, bi := range table {
		var size int
		switch {
		case bi.Len < 0 || bi.Len > len(payload)*8:
			return nil, f.bad("blob %d: length %d exceeds the file", i+1, bi.Len)
		case bi.Type == "f32" && bi.Width == 0:
			size = 4 * bi.Len
		case bi.Type == "bits" && bi.Width >= 1 && bi.Width <= 8:
			size = (bi.Len*bi.Width + 7) / 8
		default:
			return nil, f.bad("blob %d: type %q width %d", i+1, bi.Type, bi.Width)
		}
		s, ok := p.Next(size)
		if !ok {
			return nil, f.bad("blob %d (%d bytes) exceeds the file", i+1, size)
		}
		out = append(out, s)
	}
	if p.Left() != 0 {
		return nil, f.bad("%d bytes after the last blob", p.Left())
	}
	return out, nil
}

// PackBits packs the low width bits of each value, LSB first.
func PackBits(v []uint8, width int) []byte {
	b := make([]byte, (len(v)*width+7)/8)
	for i, x := range v {
		for j := 0; j < width; j++ {
			if x>>uint(j)&1 != 0 {
				p := i*width + j
				b[p/8] |= 1 << uint(p%8)
			}
		}
	}
	return b
}

// UnpackBits reverses PackBits for n values; b must hold ceil(n·width/8) bytes.
func UnpackBits(b []byte, width, n int) []uint8 {
	v := make([]uint8, n)
	for i := range v {
		var x uint8
		for j := 0; j < width; j++ {
			p := i*width + j
			x |= (b[p/8] >> uint(p%8) & 1) << uint(j)
		}
		v[i] = x
	}
	return v
}
