package datasets

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// CIFAR binary geometry: 32×32 RGB stored channel-major (CHW).
const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide
	// maxCIFARBytes bounds one binary file (the official ones are ~30 MB).
	maxCIFARBytes = 1 << 30
)

// CIFARRecords are decoded CIFAR binary records, converted to NHWC.
type CIFARRecords struct {
	Pixels []uint8 // N×32×32×3, channel fastest
	Labels []uint8 // the last label byte of each record (fine label for CIFAR-100)
	Coarse []uint8 // CIFAR-100 coarse labels; nil for CIFAR-10
}

// ReadCIFAR reads a CIFAR binary file whose records are labelBytes label
// bytes (1 for CIFAR-10; 2, coarse then fine, for CIFAR-100) followed by
// 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each row-major.
func ReadCIFAR(path string, labelBytes int) (*CIFARRecords, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fh.Close()
	return DecodeCIFAR(fh, path, labelBytes)
}

// DecodeCIFAR reads CIFAR binary records from r; name labels errors.
func DecodeCIFAR(r io.Reader, name string, labelBytes int) (*CIFARRecords, error) {
	if labelBytes != 1 && labelBytes != 2 {
		return nil, fmt.Errorf("datasets: %s: %d label bytes, want 1 (CIFAR-10) or 2 (CIFAR-100)", name, labelBytes)
	}
	var buf bytes.Buffer
	if n, err := buf.ReadFrom(io.LimitReader(r, maxCIFARBytes+1)); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", name, err)
	} else if n > maxCIFARBytes {
		return nil, fmt.Errorf("datasets: %s: larger than %d bytes: %w", name, maxCIFARBytes, ErrFormat)
	}
	data := buf.Bytes()
	rec := labelBytes + cifarPixels
	n := len(data) / rec
	if len(data)%rec != 0 {
		return nil, fmt.Errorf("datasets: %s: truncated at record %d: %d of %d bytes: %w", name, n, len(data)%rec, rec, io.ErrUnexpectedEOF)
	}
	if n == 0 {
		return nil, fmt.Errorf("datasets: %s: no records: %w", name, ErrFormat)
	}
	out := &CIFARRecords{Pixels: make([]uint8, n*cifarPixels), Labels: make([]uint8, n)}
	if labelBytes == 2 {
		out.Coarse = make([]uint8, n)
	}
	const plane = cifarSide * cifarSide
	for i := range n {
		r := data[i*rec : (i+1)*rec]
		out.Labels[i] = r[labelBytes-1]
		if labelBytes == 2 {
			out.Coarse[i] = r[0]
		}
		chw := r[labelBytes:]
		hwc := out.Pixels[i*cifarPixels : (i+1)*cifarPixels]
		for p := range plane {
			hwc[3*p], hwc[3*p+1], hwc[3*p+2] = chw[p], chw[plane+p], chw[2*plane+p]
		}
	}
	return out, nil
}

// CIFARSet is an in-memory CIFAR dataset read from binary files.
type CIFARSet struct {
	pix     []uint8 // NHWC
	labels  []uint8
	classes int
	t       *transform
	oh, ow  int
}

// cifarFiles returns the binary files of a split, or nil when dir holds none.
func cifarFiles(dir, split string, hundred bool) ([]string, error) {
	var names []string
	switch {
	case hundred && split == "train":
		names = []string{"train.bin"}
	case hundred && (split == "test" || split == "val"):
		names = []string{"test.bin"}
	case !hundred && split == "train":
		// data_batch_1..5, stopping at the first missing one.
		for i := 1; i <= 5; i++ {
			n := fmt.Sprintf("data_batch_%d.bin", i)
			if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
				break
			}
			names = append(names, n)
		}
	case !hundred && (split == "test" || split == "val"):
		names = []string{"test_batch.bin"}
	default:
		return nil, fmt.Errorf("datasets: %s: unknown split %q (want train or test)", dir, split)
	}
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// binaryDir returns dir or its official sub-folder when it holds the binary files.
func binaryDir(dir string, hundred bool) (string, bool) {
	first, sub := "data_batch_1.bin", "cifar-10-batches-bin"
	if hundred {
		first, sub = "train.bin", "cifar-100-binary"
	}
	for _, d := range []string{dir, filepath.Join(dir, sub)} {
		if _, err := os.Stat(filepath.Join(d, first)); err == nil {
			return d, true
		}
		if _, err := os.Stat(filepath.Join(d, "test_batch.bin")); err == nil && !hundred {
			return d, true
		}
		if _, err := os.Stat(filepath.Join(d, "test.bin")); err == nil && hundred {
			return d, true
		}
	}
	return dir, false
}

// CIFAR10 opens the "train" or "test" split of CIFAR-10 from dir (located
// with Locate when empty): the official binary batches when dir (or its
// cifar-10-batches-bin folder) holds them, else an ImageFolder of
// dir/train or dir/test (sorted class folders, which is the official
// batches.meta.txt order).
// The preset transform is CIFARTrain for "train" and CIFAREval otherwise.
func CIFAR10(dir, split string, opts Options) (Dataset, error) {
	return openCIFAR("cifar10", dir, split, opts, false)
}

// CIFAR100 opens CIFAR-100 (train.bin, test.bin; fine labels) like CIFAR10.
func CIFAR100(dir, split string, opts Options) (Dataset, error) {
	return openCIFAR("cifar100", dir, split, opts, true)
}

func openCIFAR(name, dir, split string, opts Options, hundred bool) (Dataset, error) {
	dir, err := Locate(name, dir)
	if err != nil {
		return nil, err
	}
	def := CIFAREval()
	if split == "train" {
		def = CIFARTrain()
	}
	p := opts.pipeline(def)
	bdir, ok := binaryDir(dir, hundred)
	if !ok {
		sub, err := splitDir(dir, split)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Transform, o.Scaling = &p, Standardize
		return ImageFolder(sub, o)
	}
	paths, err := cifarFiles(bdir, split, hundred)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("datasets: %s: no %s binary files for split %q: %w", bdir, name, split, ErrNotFound)
	}
	classes, lb := 10, 1
	if hundred {
		classes, lb = 100, 2
	}
	return NewCIFARSet(paths, lb, classes, p)
}

// NewCIFARSet reads CIFAR binary files (labelBytes per record as in
// ReadCIFAR) into one dataset; labels must lie in [0, classes).
func NewCIFARSet(paths []string, labelBytes, classes int, p Pipeline) (*CIFARSet, error) {
	t, err := compile(p)
	if err != nil {
		return nil, err
	}
	s := &CIFARSet{classes: classes, t: t}
	for _, path := range paths {
		recs, err := ReadCIFAR(path, labelBytes)
		if err != nil {
			return nil, err
		}
		for i, l := range recs.Labels {
			if int(l) >= classes {
				return nil, fmt.Errorf("datasets: %s: label %d of record %d outside [0, %d): %w", path, l, i, classes, ErrFormat)
			}
		}
		s.pix = append(s.pix, recs.Pixels...)
		s.labels = append(s.labels, recs.Labels...)
	}
	s.oh, s.ow = p.Size(cifarSide, cifarSide)
	return s, nil
}

func (s *CIFARSet) Len() int             { return len(s.labels) }
func (s *CIFARSet) Shape() (h, w, c int) { return s.oh, s.ow, 3 }
func (s *CIFARSet) NumClasses() int      { return s.classes }

// Label returns the label of example i.
func (s *CIFARSet) Label(i int) int { return int(s.labels[i]) }

// Pixels returns the 32×32×3 bytes of example i.
func (s *CIFARSet) Pixels(i int) []uint8 { return s.pix[i*cifarPixels : (i+1)*cifarPixels] }

func (s *CIFARSet) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	if i < 0 || i >= len(s.labels) {
		return 0, fmt.Errorf("datasets: example %d of %d: %w", i, len(s.labels), ErrIndex)
	}
	f := frame{pix: s.Pixels(i), h: cifarSide, w: cifarSide, stride: 3 * cifarSide, bpp: 3}
	if err := s.t.applyFrame(f, x, 3, rng); err != nil {
		return 0, err
	}
	return int(s.labels[i]), nil
}
