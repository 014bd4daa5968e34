package datasets

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

func TestReadIDXTestdata(t *testing.T) {
	tests := []struct {
		path  string
		magic uint32
		dims  []int
	}{
		{"testdata/mnist/train-images-idx3-ubyte.gz", MagicImages, []int{100, 28, 28}},
		{"testdata/mnist/train-labels-idx1-ubyte.gz", MagicLabels, []int{100}},
		{"testdata/fashion-mnist/t10k-images-idx3-ubyte.gz", MagicImages, []int{100, 28, 28}},
		{"testdata/fashion-mnist/t10k-labels-idx1-ubyte.gz", MagicLabels, []int{100}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, err := ReadIDX(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Magic != tt.magic || !equalInts(f.Dims, tt.dims) || len(f.Data) != tt.dims[0]*f.RecordSize() {
				t.Fatalf("magic 0x%x dims %v data %d, want 0x%x %v", f.Magic, f.Dims, len(f.Data), tt.magic, tt.dims)
			}
			// The raw (uncompressed) form reads the same.
			raw := gunzip(t, tt.path)
			g, err := DecodeIDX(bytes.NewReader(raw), "raw")
			if err != nil || !bytes.Equal(g.Data, f.Data) {
				t.Fatalf("raw decode differs: %v", err)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func gunzip(t testing.TB, path string) []byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestMNISTScaling(t *testing.T) {
	tests := []struct {
		name    string
		open    func(string, string, Options) (*IDXSet, error)
		scaling Scaling
		f       func(p uint8) float32
	}{
		{"mnist/standardize", MNIST, Standardize, func(p uint8) float32 { return (float32(p)/255 - 0.1307) / 0.3081 }},
		{"mnist/unit", MNIST, Unit, func(p uint8) float32 { return float32(p) / 255 }},
		{"mnist/symmetric", MNIST, Symmetric, func(p uint8) float32 { return 2*float32(p)/255 - 1 }},
		{"fashion-mnist/standardize", FashionMNIST, Standardize, func(p uint8) float32 { return (float32(p)/255 - 0.2860) / 0.3530 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join("testdata", filepath.Dir(tt.name))
			for _, split := range []string{"train", "test"} {
				ds, err := tt.open(dir, split, Options{Scaling: tt.scaling})
				if err != nil {
					t.Fatal(err)
				}
				if h, w, c := ds.Shape(); ds.Len() != 100 || h != 28 || w != 28 || c != 1 || ds.NumClasses() != 10 {
					t.Fatalf("len %d shape %dx%dx%d classes %d", ds.Len(), h, w, c, ds.NumClasses())
				}
				x, y := allExamples(t, ds)
				for i := range ds.Len() {
					if y[i] != ds.Label(i) {
						t.Fatalf("label %d: %d, want %d", i, y[i], ds.Label(i))
					}
					for j, p := range ds.Pixels(i) {
						if got, want := x[i*784+j], tt.f(p); math.Abs(float64(got-want)) > 1e-5 {
							t.Fatalf("example %d pixel %d: %v, want %v", i, j, got, want)
						}
					}
				}
			}
		})
	}
}

// The first MNIST training labels are 5 0 4 1 9 2 1 3 1 4 (LeCun's page).
func TestMNISTFirstLabels(t *testing.T) {
	ds, err := MNIST("testdata/mnist", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}
	for i, w := range want {
		if ds.Label(i) != w {
			t.Errorf("label %d = %d, want %d", i, ds.Label(i), w)
		}
	}
}

func TestIDXBadInput(t *testing.T) {
	dir := t.TempDir()
	images := gunzip(t, "testdata/mnist/train-images-idx3-ubyte.gz")
	labels := gunzip(t, "testdata/mnist/train-labels-idx1-ubyte.gz")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gz := func(data []byte) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	wrongMagic := bytes.Clone(images)
	wrongMagic[0] = 0x12
	fewerLabels := append(bytes.Clone(labels[:8]), labels[8:8+99]...)
	fewerLabels[7] = 99 // header count 99, 99 labels
	badLabel := bytes.Clone(labels)
	badLabel[8+5] = 10
	okLabels := write("labels", labels)

	tests := []struct {
		name         string
		images, lbls string
		is           error
		parts        []string
	}{
		{"truncated raw", write("trunc-raw", images[:16+73*784+100]), okLabels, io.ErrUnexpectedEOF, []string{"trunc-raw", "truncated at image 73"}},
		{"truncated gz", write("trunc.gz", gz(images[:16+50*784+3])), okLabels, io.ErrUnexpectedEOF, []string{"trunc.gz", "truncated at image 50"}},
		{"truncated header", write("header", images[:10]), okLabels, io.ErrUnexpectedEOF, []string{"header", "truncated header"}},
		{"empty", write("empty", nil), okLabels, io.ErrUnexpectedEOF, []string{"empty", "truncated header"}},
		{"wrong magic", write("magic", wrongMagic), okLabels, ErrFormat, []string{"magic", "wrong magic 0x12000803"}},
		{"labels as images", okLabels, okLabels, ErrFormat, []string{"labels", "wrong magic 0x00000801, want 0x00000803"}},
		{"count mismatch", write("images", images), write("fewer", fewerLabels), ErrFormat, []string{"images", "100 images but", "fewer has 99 labels"}},
		{"label range", write("images2", images), write("badlabel", badLabel), ErrFormat, []string{"badlabel", "label 10 of record 5"}},
		{"trailing", write("trailing", append(bytes.Clone(images), 1)), okLabels, ErrFormat, []string{"trailing", "trailing data"}},
		{"missing", filepath.Join(dir, "nope"), okLabels, os.ErrNotExist, []string{"nope"}},
		{"bad gzip", write("badgz", []byte{0x1f, 0x8b, 1, 2, 3}), okLabels, nil, []string{"badgz", "gzip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIDXSet(tt.images, tt.lbls, 10, Pipeline{})
			wantErr(t, err, append(tt.parts, "datasets: ")...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestMNISTMissingDir(t *testing.T) {
	dir := t.TempDir()
	_, err := MNIST(dir, "train", Options{})
	wantErr(t, err, filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-images-idx3-ubyte"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}
	_, err = MNIST("testdata/mnist", "validation", Options{})
	wantErr(t, err, `unknown split "validation"`)
}

// fullIDX checks a full data set: counts, label histogram and pixel statistics.
func fullIDX(t *testing.T, ds *IDXSet, n int, mean, std float64) {
	t.Helper()
	if ds.Len() != n {
		t.Fatalf("len %d, want %d", ds.Len(), n)
	}
	var hist [10]int
	var s, s2 float64
	for i := range n {
		hist[ds.Label(i)]++
		for _, p := range ds.Pixels(i) {
			v := float64(p) / 255
			s += v
			s2 += v * v
		}
	}
	for c, k := range hist {
		if k < n/20 {
			t.Errorf("class %d has %d examples", c, k)
		}
	}
	m := s / float64(n*784)
	sd := math.Sqrt(s2/float64(n*784) - m*m)
	if math.Abs(m-mean) > 5e-4 || math.Abs(sd-std) > 5e-4 {
		t.Errorf("pixel mean %.4f std %.4f, want %.4f %.4f", m, sd, mean, std)
	}
}

func TestMNISTFull(t *testing.T) {
	dir, err := Locate("mnist", "")
	if err != nil {
		datatest.Missing(t, "%v", err)
	}
	train, err := MNIST(dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	fullIDX(t, train, 60000, 0.1307, 0.3081)
	test, err := MNIST(dir, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 10000 {
		t.Errorf("test len %d", test.Len())
	}
	// The testdata sample is the head of the real files.
	small, err := MNIST("testdata/mnist", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range small.Len() {
		if small.Label(i) != train.Label(i) || !bytes.Equal(small.Pixels(i), train.Pixels(i)) {
			t.Fatalf("testdata example %d differs from the module's MNIST", i)
		}
	}
}

func TestFashionMNISTFull(t *testing.T) {
	datatest.Require(t, FashionMNISTSystemDir)
	train, err := FashionMNIST("", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	fullIDX(t, train, 60000, 0.2860, 0.3530)
	test, err := FashionMNIST("", "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 10000 {
		t.Errorf("test len %d", test.Len())
	}
}
