package datasets

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The binary sample was written from the JPEG sample (see testdata/README.md):
// the reader must give back the decoded JPEG pixels, NHWC, in ImageFolder order.
func TestCIFARBinaryMatchesJPEG(t *testing.T) {
	for _, split := range []string{"train", "test"} {
		t.Run(split, func(t *testing.T) {
			ds, err := CIFAR10("testdata/cifar10-bin", split, Options{Transform: &Pipeline{}})
			if err != nil {
				t.Fatal(err)
			}
			set := ds.(*CIFARSet)
			folder, err := ImageFolder(filepath.Join("testdata/cifar10", split), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if set.Len() != folder.Len() || set.Len() != 3*genCIFARCount[split] {
				t.Fatalf("binary has %d records, folder %d files", set.Len(), folder.Len())
			}
			x, y := allExamples(t, set)
			fx, fy := allExamples(t, folder)
			for i := range set.Len() {
				img := decodeFile(t, folder.Path(i))
				if y[i] != fy[i] || y[i] != set.Label(i) {
					t.Fatalf("record %d: label %d, folder %d", i, y[i], fy[i])
				}
				pix := set.Pixels(i)
				for py := range 32 {
					for px := range 32 {
						want := rgb8(img, px, py)
						for c := range 3 {
							k := (py*32+px)*3 + c
							if pix[k] != want[c] {
								t.Fatalf("record %d (%s) pixel (%d,%d,%d): %d, JPEG %d", i, folder.Path(i), px, py, c, pix[k], want[c])
							}
							if got := x[i*3072+k]; got != float32(want[c])/255 {
								t.Fatalf("record %d value %d: %v, want %v", i, k, got, float32(want[c])/255)
							}
							// The folder reads the same JPEG; decoders agree up to rounding.
							if d := math.Abs(float64(fx[i*3072+k] - x[i*3072+k])); d > 1.5/255 {
								t.Fatalf("record %d value %d: folder %v, binary %v", i, k, fx[i*3072+k], x[i*3072+k])
							}
						}
					}
				}
			}
		})
	}
}

func TestCIFARPresets(t *testing.T) {
	train, err := CIFAR10("testdata/cifar10-bin", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	eval, err := CIFAR10("testdata/cifar10-bin", "train", Options{Transform: ptr(CIFAREval())})
	if err != nil {
		t.Fatal(err)
	}
	xe, _ := allExamples(t, eval)
	xt, _ := allExamples(t, train) // nil rng: the train preset is deterministic
	for i := range xe {
		if xe[i] != xt[i] {
			t.Fatalf("value %d: train preset with nil rng %v, eval %v", i, xt[i], xe[i])
		}
	}
	set := eval.(*CIFARSet)
	p := set.Pixels(0)
	for c := range 3 {
		want := (float32(p[c])/255 - cifarMean[c]) / cifarStd[c]
		if math.Abs(float64(xe[c]-want)) > 1e-5 {
			t.Errorf("channel %d: %v, want %v", c, xe[c], want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestCIFAR100(t *testing.T) {
	// CIFAR-100 records: coarse byte, fine byte, 3072 pixels. Build them from
	// the real CIFAR-10 records with the fine label = coarse+5.
	bin, err := os.ReadFile("testdata/cifar10-bin/test_batch.bin")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var recs []byte
	n := len(bin) / (1 + cifarPixels)
	for i := range n {
		r := bin[i*(1+cifarPixels) : (i+1)*(1+cifarPixels)]
		recs = append(recs, r[0], r[0]+5)
		recs = append(recs, r[1:]...)
	}
	for _, name := range []string{"train.bin", "test.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), recs, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := CIFAR100(dir, "test", Options{Transform: &Pipeline{}})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := ReadCIFAR("testdata/cifar10-bin/test_batch.bin", 1)
	if err != nil {
		t.Fatal(err)
	}
	hundred, err := ReadCIFAR(filepath.Join(dir, "test.bin"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != n || ds.NumClasses() != 100 {
		t.Fatalf("len %d classes %d", ds.Len(), ds.NumClasses())
	}
	for i := range n {
		if hundred.Labels[i] != ten.Labels[i]+5 || hundred.Coarse[i] != ten.Labels[i] {
			t.Errorf("record %d: fine %d coarse %d", i, hundred.Labels[i], hundred.Coarse[i])
		}
	}
	if string(hundred.Pixels) != string(ten.Pixels) {
		t.Error("CIFAR-100 pixels differ from the CIFAR-10 records they came from")
	}
}

func TestCIFARBadInput(t *testing.T) {
	bin, err := os.ReadFile("testdata/cifar10-bin/data_batch_1.bin")
	if err != nil {
		t.Fatal(err)
	}
	badLabel := append([]byte{}, bin...)
	badLabel[2*(1+cifarPixels)] = 10
	tests := []struct {
		name  string
		data  []byte
		is    error
		parts []string
	}{
		{"truncated", bin[:3*(1+cifarPixels)+100], io.ErrUnexpectedEOF, []string{"truncated at record 3"}},
		{"empty", nil, ErrFormat, []string{"no records"}},
		{"label", badLabel, ErrFormat, []string{"label 10 of record 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "data_batch_1.bin")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := CIFAR10(dir, "train", Options{})
			wantErr(t, err, append(tt.parts, path)...)
			if !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
		})
	}
	_, err = CIFAR10("testdata/cifar10-bin", "validation", Options{})
	wantErr(t, err, `unknown split "validation"`)
}

func TestCIFARBinaryDirs(t *testing.T) {
	// The official tarball unpacks to cifar-10-batches-bin/.
	dir := t.TempDir()
	copyTree(t, "testdata/cifar10-bin", filepath.Join(dir, "cifar-10-batches-bin"))
	ds, err := CIFAR10(dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.(*CIFARSet); !ok || ds.Len() != 12 {
		t.Fatalf("got %T with %d examples", ds, ds.Len())
	}
	// Without binaries, CIFAR10 reads the JPEG folders.
	ds, err = CIFAR10("testdata/cifar10", "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.(*Folder); !ok || ds.Len() != 6 {
		t.Fatalf("got %T with %d examples", ds, ds.Len())
	}
}
