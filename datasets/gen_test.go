package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

// gen regenerates the committed samples under testdata from the real data:
//
//	go test ./datasets -run TestGenerateTestdata -gen
var gen = flag.Bool("gen", false, "regenerate the testdata samples from the real data sets")

// Samples copied into testdata (see testdata/README.md).
var (
	genCIFARClasses = []string{"airplane", "automobile", "bird"}
	genCIFARCount   = map[string]int{"train": 4, "test": 2}
	genNetteClasses = []string{"n01440764", "n02102040", "n03445777"}
	genNetteCount   = map[string]int{"train": 2, "val": 1}
	// Greyscale JPEGs of the shared subset, copied as well.
	genNetteGrey = []string{"train/n02102040/n02102040_1408.JPEG", "train/n03445777/ILSVRC2012_val_00007755.JPEG"}
)

func TestGenerateTestdata(t *testing.T) {
	if !*gen {
		t.Skip("run with -gen to regenerate testdata")
	}
	mnist, err := Locate("mnist", "")
	if err != nil {
		t.Fatal(err)
	}
	genIDX(t, mnist, "testdata/mnist", 100)
	datatest.Require(t, FashionMNISTSystemDir)
	genIDX(t, FashionMNISTSystemDir, "testdata/fashion-mnist", 100)

	cifar := datatest.SharedData(t, "cifar10")
	for _, split := range []string{"train", "test"} {
		var recs []byte
		for label, class := range genCIFARClasses {
			for i := range genCIFARCount[split] {
				rel := filepath.Join(split, class, fmt.Sprintf("%04d.jpg", i))
				data := copyFile(t, filepath.Join(cifar, rel), filepath.Join("testdata/cifar10", rel))
				recs = append(recs, cifarRecord(t, data, label)...)
			}
		}
		name := "data_batch_1.bin"
		if split == "test" {
			name = "test_batch.bin"
		}
		writeFile(t, filepath.Join("testdata/cifar10-bin", name), recs)
	}
	copyFile(t, filepath.Join(cifar, "batches.meta.txt"), "testdata/cifar10/batches.meta.txt")
	copyFile(t, filepath.Join(cifar, "batches.meta.txt"), "testdata/cifar10-bin/batches.meta.txt")

	nette := datatest.SharedData(t, "imagenette")
	for _, split := range []string{"train", "val"} {
		for _, class := range genNetteClasses {
			files, err := os.ReadDir(filepath.Join(nette, split, class))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files[:genNetteCount[split]] {
				rel := filepath.Join(split, class, f.Name())
				copyFile(t, filepath.Join(nette, rel), filepath.Join("testdata/imagenette", rel))
			}
		}
	}
	for _, rel := range genNetteGrey {
		copyFile(t, filepath.Join(nette, rel), filepath.Join("testdata/imagenette", rel))
	}
	copyFile(t, filepath.Join(nette, "classes.txt"), "testdata/imagenette/classes.txt")

	genFuzzSeeds(t)
}

// genIDX writes the first n images and labels of both splits as .gz IDX.
func genIDX(t *testing.T, src, dst string, n int) {
	for _, prefix := range []string{"train", "t10k"} {
		for _, kind := range []string{"images-idx3-ubyte", "labels-idx1-ubyte"} {
			base := prefix + "-" + kind
			path, err := idxFile(src, base)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadIDX(path)
			if err != nil {
				t.Fatal(err)
			}
			f.Dims[0] = n
			f.Data = f.Data[:n*f.RecordSize()]
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(encodeIDX(f))
			zw.Close()
			writeFile(t, filepath.Join(dst, base+".gz"), buf.Bytes())
		}
	}
}

func encodeIDX(f *IDX) []byte {
	out := binary.BigEndian.AppendUint32(nil, f.Magic)
	for _, d := range f.Dims {
		out = binary.BigEndian.AppendUint32(out, uint32(d))
	}
	return append(out, f.Data...)
}

// cifarRecord encodes a decoded 32×32 JPEG as an official CIFAR-10 binary
// record: the label byte, then the red, green and blue planes.
func cifarRecord(t testing.TB, jpegData []byte, label int) []byte {
	img, _, err := image.Decode(bytes.NewReader(jpegData))
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 1+cifarPixels)
	rec[0] = byte(label)
	for y := range 32 {
		for x := range 32 {
			r, g, b, _ := img.At(x, y).RGBA()
			p := 1 + y*32 + x
			rec[p], rec[p+1024], rec[p+2048] = byte(r>>8), byte(g>>8), byte(b>>8)
		}
	}
	return rec
}

func genFuzzSeeds(t *testing.T) {
	img, err := ReadIDX("testdata/mnist/t10k-images-idx3-ubyte.gz")
	if err != nil {
		t.Fatal(err)
	}
	img.Dims[0] = 2
	img.Data = img.Data[:2*784]
	raw := encodeIDX(img)
	lbl, err := ReadIDX("testdata/mnist/t10k-labels-idx1-ubyte.gz")
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile("testdata/mnist/t10k-labels-idx1-ubyte.gz")
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzIDX", "images2", raw)
	writeSeed(t, "FuzzIDX", "labels_gz", gz)
	writeSeed(t, "FuzzIDX", "labels_raw", encodeIDX(lbl))
	writeSeed(t, "FuzzIDX", "truncated", raw[:100])

	bin, err := os.ReadFile("testdata/cifar10-bin/test_batch.bin")
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzCIFAR", "record10", bin[:1+cifarPixels], false)
	writeSeed(t, "FuzzCIFAR", "record100", append([]byte{7}, bin[:1+cifarPixels]...), true)
	writeSeed(t, "FuzzCIFAR", "truncated", bin[:1+cifarPixels+10], false)

	jpg, err := os.ReadFile("testdata/cifar10/test/bird/0000.jpg")
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzImage", "jpeg", jpg, uint64(1))
	m, _, err := image.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, m); err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzImage", "png", pngBuf.Bytes(), uint64(2))
	grey, err := os.ReadFile("testdata/imagenette/" + genNetteGrey[1])
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzImage", "grey_jpeg", grey, uint64(3))
	writeSeed(t, "FuzzImage", "truncated_jpeg", jpg[:len(jpg)/2], uint64(4))
}

// writeSeed writes a corpus file in the go test fuzz v1 format.
func writeSeed(t *testing.T, fuzz, name string, args ...any) {
	var buf bytes.Buffer
	buf.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&buf, "[]byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&buf, "bool(%v)\n", v)
		case uint64:
			fmt.Fprintf(&buf, "uint64(%d)\n", v)
		default:
			t.Fatalf("seed argument %T", a)
		}
	}
	writeFile(t, filepath.Join("testdata/fuzz", fuzz, name), buf.Bytes())
}

func copyFile(t *testing.T, src, dst string) []byte {
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data)
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
