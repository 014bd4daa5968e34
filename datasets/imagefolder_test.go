package datasets

import (
	"bufio"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/datatest"
)

func TestImageFolderTestdata(t *testing.T) {
	f, err := ImageFolder("testdata/imagenette/train", Options{Transform: ptr(ImageNetEval(224))})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n01440764", "n02102040", "n03445777"}; strings.Join(f.Classes(), " ") != strings.Join(want, " ") {
		t.Fatalf("classes %v, want %v", f.Classes(), want)
	}
	if h, w, c := f.Shape(); f.Len() != 8 || h != 224 || w != 224 || c != 3 || f.NumClasses() != 3 {
		t.Fatalf("len %d shape %dx%dx%d classes %d", f.Len(), h, w, c, f.NumClasses())
	}
	wantLabels := []int{0, 0, 1, 1, 1, 2, 2, 2}
	for i, w := range wantLabels {
		if f.Label(i) != w {
			t.Errorf("label %d = %d, want %d (%s)", i, f.Label(i), w, f.Path(i))
		}
	}
}

// Greyscale JPEGs decode as image.Gray and come out as 3 equal channels.
func TestImageFolderGreyscale(t *testing.T) {
	for _, p := range []Pipeline{{}, ImageNetEval(224), ImageNetTrain(160)} {
		f, err := ImageFolder("testdata/imagenette/train", Options{Transform: &p})
		if err != nil {
			t.Fatal(err)
		}
		h, w, c := f.Shape()
		x := make([]float32, h*w*c)
		greys := 0
		for i := range f.Len() {
			_, grey := decodeFile(t, f.Path(i)).(*image.Gray)
			if !grey {
				continue
			}
			greys++
			if _, err := f.Example(i, x, rngFor(7)); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < len(x); k += 3 {
				var raw [3]float64
				for ch := range 3 {
					raw[ch] = float64(x[k+ch])
					if p.Std != [3]float32{} {
						raw[ch] = raw[ch]*float64(p.Std[ch]) + float64(p.Mean[ch])
					}
				}
				if math.Abs(raw[0]-raw[1]) > 1e-5 || math.Abs(raw[0]-raw[2]) > 1e-5 {
					t.Fatalf("%s pixel %d: channels %v differ", f.Path(i), k/3, raw)
				}
			}
		}
		if greys != 2 {
			t.Fatalf("found %d greyscale files, want 2", greys)
		}
	}
}

func TestImageFolderClassIndex(t *testing.T) {
	for _, index := range []string{"imagenet_class_index.json", "wnid_index.txt", "classes.txt"} {
		t.Run(index, func(t *testing.T) {
			f, err := ImageFolder("testdata/imagenette/val", Options{ClassIndex: filepath.Join("testdata/imagenette", index)})
			if err != nil {
				t.Fatal(err)
			}
			want, classes := []int{0, 217, 574}, 702
			if index == "classes.txt" { // "index wnid name": Imagenette's own 0-9
				want, classes = []int{0, 1, 8}, 10
			}
			if f.NumClasses() != classes {
				t.Errorf("classes %d, want %d", f.NumClasses(), classes)
			}
			for i, w := range want {
				if f.Label(i) != w {
					t.Errorf("label %d = %d, want %d", i, f.Label(i), w)
				}
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("n01440764 0\nn02102040\n"), 0o644)
	_, err := ImageFolder("testdata/imagenette/val", Options{ClassIndex: bad})
	wantErr(t, err, bad, "line 2")
	partial := filepath.Join(t.TempDir(), "partial.txt")
	os.WriteFile(partial, []byte("n01440764 0\n"), 0o644)
	_, err = ImageFolder("testdata/imagenette/val", Options{ClassIndex: partial})
	wantErr(t, err, "n02102040 is not in class index", partial)
}

// corruptFolder copies the imagenette train sample and damages two files.
func corruptFolder(t *testing.T) (dir string, damaged []string) {
	dir = t.TempDir()
	copyTree(t, "testdata/imagenette/train", dir)
	trunc := filepath.Join(dir, "n01440764", "ILSVRC2012_val_00002138.JPEG")
	data, err := os.ReadFile(trunc)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trunc, data[:len(data)/3], 0o644)
	garbage := filepath.Join(dir, "n03445777", "ILSVRC2012_val_00002314.JPEG")
	os.WriteFile(garbage, []byte("this is not a JPEG"), 0o644)
	return dir, []string{trunc, garbage}
}

func TestImageFolderCorrupt(t *testing.T) {
	dir, damaged := corruptFolder(t)
	t.Run("skip", func(t *testing.T) {
		f, err := ImageFolder(dir, Options{Transform: ptr(ImageNetTrain(64))})
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 3} {
			l, err := NewLoader(f, LoaderConfig{Batch: 3, Shuffle: true, Seed: 1, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			it := l.Epoch(0)
			var b Batch
			n := 0
			for it.Next(&b) {
				n += b.N
			}
			if it.Err() != nil || it.Skipped() != 2 || n != f.Len()-2 {
				t.Fatalf("workers %d: err %v skipped %d examples %d", workers, it.Err(), it.Skipped(), n)
			}
		}
		x := make([]float32, 64*64*3)
		_, err = f.Example(1, x, nil)
		if !errors.Is(err, ErrSkipped) {
			t.Fatalf("Example of %s: %v, want ErrSkipped", damaged[0], err)
		}
		wantErr(t, err, damaged[0])
	})
	t.Run("strict", func(t *testing.T) {
		f, err := ImageFolder(dir, Options{Transform: ptr(ImageNetTrain(64)), Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLoader(f, LoaderConfig{Batch: 4, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		it := l.Epoch(0)
		var b Batch
		for it.Next(&b) {
		}
		wantErr(t, it.Err(), damaged[0], "corrupt image")
		if errors.Is(it.Err(), ErrSkipped) {
			t.Error("strict error wraps ErrSkipped")
		}
	})
}

func TestImageFolderMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	_, err := ImageFolder(dir, Options{})
	wantErr(t, err, dir)
	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, "a"), 0o755)
	_, err = ImageFolder(empty, Options{})
	wantErr(t, err, empty, "no .jpg")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}
}

// manifestCounts reads the per-class table of a shared MANIFEST.txt.
func manifestCounts(t *testing.T, path string) (splits []string, counts map[string][]int) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	counts = map[string][]int{}
	sc := bufio.NewScanner(fh)
	in := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 1 && f[0] == "class":
			splits, in = f[1:], true
		case in && len(f) > 0 && f[0] == "total":
			return splits, counts
		case in && len(f) == len(splits)+1:
			for _, s := range f[1:] {
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("%s: %q", path, sc.Text())
				}
				counts[f[0]] = append(counts[f[0]], n)
			}
		}
	}
	t.Fatalf("%s: no class table", path)
	return nil, nil
}

func TestSharedClassCounts(t *testing.T) {
	for _, name := range []string{"cifar10", "imagenette"} {
		t.Run(name, func(t *testing.T) {
			root := datatest.SharedData(t, name)
			splits, counts := manifestCounts(t, filepath.Join(root, "MANIFEST.txt"))
			for si, split := range splits {
				f, err := ImageFolder(filepath.Join(root, split), Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Classes()) != len(counts) {
					t.Fatalf("%s: %d classes, manifest %d", split, len(f.Classes()), len(counts))
				}
				got := make([]int, f.NumClasses())
				for i := range f.Len() {
					got[f.Label(i)]++
				}
				for ci, c := range f.Classes() {
					if got[ci] != counts[c][si] {
						t.Errorf("%s/%s: %d files, manifest %d", split, c, got[ci], counts[c][si])
					}
				}
			}
		})
	}
}

// The normalised channel means equal means computed here from the raw
// decoded pixels.
func TestSharedChannelMeans(t *testing.T) {
	tests := []struct {
		name, split string
		mean, std   [3]float32
	}{
		{"cifar10", "test", cifarMean, cifarStd},
		{"imagenette", "val", imageNetMean, imageNetStd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(datatest.SharedData(t, tt.name), tt.split)
			f, err := ImageFolder(dir, Options{Transform: &Pipeline{Mean: tt.mean, Std: tt.std}})
			if err != nil {
				t.Fatal(err)
			}
			h, w, c := f.Shape()
			x := make([]float32, h*w*c)
			var got, raw [3]float64
			greys := 0
			for i := range f.Len() {
				if _, err := f.Example(i, x, nil); err != nil {
					t.Fatal(err)
				}
				for k, v := range x {
					got[k%3] += float64(v)
				}
				img := decodeFile(t, f.Path(i))
				if _, ok := img.(*image.Gray); ok {
					greys++
				}
				for y := range h {
					for xx := range w {
						p := rgb8(img, xx, y)
						for ch := range 3 {
							raw[ch] += float64(p[ch])
						}
					}
				}
			}
			px := float64(f.Len() * h * w)
			for ch := range 3 {
				want := (raw[ch]/px/255 - float64(tt.mean[ch])) / float64(tt.std[ch])
				if g := got[ch] / px; math.Abs(g-want) > 2e-4 {
					t.Errorf("channel %d: mean %.5f, want %.5f", ch, g, want)
				}
			}
			t.Logf("%s/%s: %d images, %d greyscale, raw means %.4f %.4f %.4f", tt.name, tt.split, f.Len(), greys,
				raw[0]/px/255, raw[1]/px/255, raw[2]/px/255)
			if tt.name == "imagenette" && greys == 0 {
				t.Error("expected greyscale images in the Imagenette val subset")
			}
		})
	}
}
