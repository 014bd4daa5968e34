package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// IDX magic numbers of unsigned-byte files (type 0x08) with 3 and 1 dimensions.
const (
	MagicImages uint32 = 0x00000803
	MagicLabels uint32 = 0x00000801
)

// MaxIDXBytes caps the payload an IDX header may announce (1 GiB; the
// largest real IDX file, EMNIST ByClass, holds 549 MB). The header is
// checked against it, and against what the file can hold, before reading.
const MaxIDXBytes = 1 << 30

// maxDeflateRatio is deflate's largest expansion (about 1032:1): a gzip file
// of n bytes cannot hold more, so a header announcing more is refused before
// inflating anything.
const maxDeflateRatio = 1032

// IDX is the content of an unsigned-byte IDX file.
type IDX struct {
	Magic uint32 // 0x0000080N for N dimensions
	Dims  []int  // Dims[0] is the number of records
	Data  []uint8
}

// RecordSize is the number of bytes of one record (the product of Dims[1:]).
func (f *IDX) RecordSize() int {
	n := 1
	for _, d := range f.Dims[1:] {
		n *= d
	}
	return n
}

// ReadIDX reads an unsigned-byte IDX file, raw or gzip-compressed (detected
// by its magic bytes 1f 8b, whatever the file name).
//
// A path that is not a regular file is refused, and so is a header that
// announces more than MaxIDXBytes or more than the file can hold.
func ReadIDX(path string) (*IDX, error) {
	st, err := os.Stat(path) // before opening: opening a FIFO blocks
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("datasets: %s: not a regular file (mode %v): %w", path, st.Mode().Type(), ErrFormat)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fh.Close()
	return decodeIDXFile(fh, path, uint64(st.Size()))
}

// DecodeIDX reads an IDX file from r; name labels errors.
func DecodeIDX(r io.Reader, name string) (*IDX, error) {
	return decodeIDXFile(r, name, 0)
}

// decodeIDXFile reads an IDX file of size bytes (0: unknown) from r.
func decodeIDXFile(r io.Reader, name string, size uint64) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	limit := idxLimit{max: MaxIDXBytes, size: size}
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: gzip: %w", name, err)
		}
		defer zr.Close()
		limit.gzip = true
		return decodeIDX(bufio.NewReaderSize(zr, 1<<16), name, limit)
	}
	return decodeIDX(br, name, limit)
}

// idxLimit bounds the payload a header may announce.
type idxLimit struct {
	max  uint64 // absolute cap
	size uint64 // the file's size when known, else 0
	gzip bool
}

// check refuses a header whose dims announce total payload bytes after hdr
// header bytes: over the cap, over what a gzip file of this size can
// inflate to, or (raw) more than the file holds.
func (l idxLimit) check(name string, f *IDX, total uint64, hdr int) error {
	left := l.size - min(l.size, uint64(hdr))
	switch {
	case total > l.max:
		return fmt.Errorf("datasets: %s: dimensions %v announce %d bytes, over the limit of %d: %w", name, f.Dims, total, l.max, ErrFormat)
	case l.size == 0:
	case l.gzip && total/maxDeflateRatio > l.size:
		return fmt.Errorf("datasets: %s: truncated: dimensions %v announce %d bytes, more than a %d-byte gzip file can hold (deflate expands at most %d:1): %w", name, f.Dims, total, l.size, maxDeflateRatio, ErrFormat)
	case !l.gzip && total > left:
		rec := uint64(0)
		if rs := f.RecordSize(); rs > 0 {
			rec = left / uint64(rs)
		}
		return fmt.Errorf("datasets: %s: truncated at %s %d: dimensions %v announce %d bytes, the file holds %d: %w", name, recordNoun(f.Magic), rec, f.Dims, total, left, io.ErrUnexpectedEOF)
	}
	return nil
}

func decodeIDX(r io.Reader, name string, limit idxLimit) (*IDX, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, fmt.Errorf("datasets: %s: truncated header: %w", name, eof(err))
	}
	nd := int(magic & 0xff)
	if magic>>8 != 0x08 || nd < 1 || nd > 4 {
		return nil, fmt.Errorf("datasets: %s: wrong magic 0x%08x, want 0x000008NN (unsigned bytes, 1-4 dims): %w", name, magic, ErrFormat)
	}
	raw := make([]uint32, nd)
	if err := binary.Read(r, binary.BigEndian, raw); err != nil {
		return nil, fmt.Errorf("datasets: %s: truncated header: %w", name, eof(err))
	}
	f := &IDX{Magic: magic, Dims: make([]int, nd)}
	total := uint64(1)
	for i, d := range raw {
		f.Dims[i] = int(d)
		if total *= uint64(d); total > limit.max {
			return nil, limit.check(name, f, total, 4+4*nd)
		}
	}
	if err := limit.check(name, f, total, 4+4*nd); err != nil {
		return nil, err
	}
	// Grow with the data rather than trusting the header with a huge
	// allocation up front.
	f.Data = make([]uint8, 0, min(total, 1<<24))
	for uint64(len(f.Data)) < total {
		if len(f.Data) == cap(f.Data) {
			f.Data = append(f.Data, 0)[:len(f.Data)]
		}
		end := min(uint64(cap(f.Data)), total)
		n, err := io.ReadFull(r, f.Data[len(f.Data):end])
		f.Data = f.Data[:len(f.Data)+n]
		if err != nil {
			rec := 0
			if rs := f.RecordSize(); rs > 0 {
				rec = len(f.Data) / rs
			}
			return nil, fmt.Errorf("datasets: %s: truncated at %s %d: %w", name, recordNoun(magic), rec, eof(err))
		}
	}
	var one [1]byte
	if n, _ := r.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("datasets: %s: trailing data after %d records: %w", name, f.Dims[0], ErrFormat)
	}
	return f, nil
}

func recordNoun(magic uint32) string {
	switch magic {
	case MagicImages:
		return "image"
	case MagicLabels:
		return "label"
	}
	return "record"
}

// eof turns io.EOF inside a record into io.ErrUnexpectedEOF.
func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// IDXSet is an in-memory image dataset read from a pair of IDX files
// (MNIST, Fashion-MNIST): uint8 storage, normalised on the fly.
type IDXSet struct {
	images  []uint8
	labels  []uint8
	n, h, w int
	classes int
	t       *transform
	oh, ow  int
}

// MNIST reads the "train" or "test" split of MNIST from dir (located with
// Locate when dir is empty). Pixels are standardised with MNISTMean and
// MNISTStd unless opts.Scaling says otherwise; opts.Transform may add
// augmentation (output has 1 channel).
func MNIST(dir, split string, opts Options) (*IDXSet, error) {
	return openIDX("mnist", dir, split, opts, MNISTMean, MNISTStd)
}

// FashionMNIST is MNIST for Fashion-MNIST (FashionMean, FashionStd).
func FashionMNIST(dir, split string, opts Options) (*IDXSet, error) {
	return openIDX("fashion-mnist", dir, split, opts, FashionMean, FashionStd)
}

func openIDX(name, dir, split string, opts Options, mean, std float32) (*IDXSet, error) {
	dir, err := Locate(name, dir)
	if err != nil {
		return nil, err
	}
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test", "t10k", "val":
		prefix = "t10k"
	default:
		return nil, fmt.Errorf("datasets: %s: unknown split %q (want train or test)", name, split)
	}
	imgPath, err := idxFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := idxFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	def := Pipeline{Mean: [3]float32{mean, mean, mean}, Std: [3]float32{std, std, std}}
	return NewIDXSet(imgPath, lblPath, 10, opts.pipeline(def))
}

// idxFile finds base or base.gz in dir.
func idxFile(dir, base string) (string, error) {
	looked := make([]string, 0, 2)
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		looked = append(looked, p)
	}
	return "", fmt.Errorf("datasets: %s: neither %s nor %s exists: %w", dir, looked[0], looked[1], ErrNotFound)
}

// NewIDXSet reads an images file (magic 0x803) and a labels file (magic
// 0x801) with the same count; labels must lie in [0, classes).
func NewIDXSet(imagesPath, labelsPath string, classes int, p Pipeline) (*IDXSet, error) {
	t, err := compile(p)
	if err != nil {
		return nil, err
	}
	img, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	if img.Magic != MagicImages {
		return nil, fmt.Errorf("datasets: %s: wrong magic 0x%08x, want 0x%08x (images): %w", imagesPath, img.Magic, MagicImages, ErrFormat)
	}
	lbl, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, err
	}
	if lbl.Magic != MagicLabels {
		return nil, fmt.Errorf("datasets: %s: wrong magic 0x%08x, want 0x%08x (labels): %w", labelsPath, lbl.Magic, MagicLabels, ErrFormat)
	}
	if img.Dims[0] != lbl.Dims[0] {
		return nil, fmt.Errorf("datasets: %s: %d images but %s has %d labels: %w", imagesPath, img.Dims[0], labelsPath, lbl.Dims[0], ErrFormat)
	}
	for i, l := range lbl.Data {
		if int(l) >= classes {
			return nil, fmt.Errorf("datasets: %s: label %d of record %d outside [0, %d): %w", labelsPath, l, i, classes, ErrFormat)
		}
	}
	s := &IDXSet{images: img.Data, labels: lbl.Data, n: img.Dims[0], h: img.Dims[1], w: img.Dims[2], classes: classes, t: t}
	s.oh, s.ow = p.Size(s.h, s.w)
	return s, nil
}

// Len, Shape, NumClasses and Example implement Dataset.
func (s *IDXSet) Len() int             { return s.n }
func (s *IDXSet) Shape() (h, w, c int) { return s.oh, s.ow, 1 }
func (s *IDXSet) NumClasses() int      { return s.classes }
func (s *IDXSet) Label(i int) int      { return int(s.labels[i]) }
func (s *IDXSet) Pixels(i int) []uint8 { return s.images[i*s.h*s.w : (i+1)*s.h*s.w] }
func (s *IDXSet) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	if i < 0 || i >= s.n {
		return 0, fmt.Errorf("datasets: example %d of %d: %w", i, s.n, ErrIndex)
	}
	f := frame{pix: s.Pixels(i), h: s.h, w: s.w, stride: s.w, bpp: 1}
	if err := s.t.applyFrame(f, x, 1, rng); err != nil {
		return 0, err
	}
	return int(s.labels[i]), nil
}
