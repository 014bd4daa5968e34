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

// maxIDXBytes bounds the payload an IDX header may announce (4 GiB).
const maxIDXBytes = 1 << 32

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
func ReadIDX(path string) (*IDX, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fh.Close()
	return DecodeIDX(fh, path)
}

// DecodeIDX reads an IDX file from r; name labels errors.
func DecodeIDX(r io.Reader, name string) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: gzip: %w", name, err)
		}
		defer zr.Close()
		return decodeIDX(bufio.NewReaderSize(zr, 1<<16), name)
	}
	return decodeIDX(br, name)
}

func decodeIDX(r io.Reader, name string) (*IDX, error) {
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
		total *= uint64(d)
		if total > maxIDXBytes {
			return nil, fmt.Errorf("datasets: %s: dimensions %v exceed %d bytes: %w", name, raw, uint64(maxIDXBytes), ErrFormat)
		}
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
