package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Folder is an ImageFolder dataset: dir/<class>/<image>, decoded on demand.
type Folder struct {
	dir        string
	classes    []string
	paths      []string
	labels     []int32
	numClasses int
	strict     bool
	t          *transform
	oh, ow     int
}

// imageExt reports whether name has a .jpg, .jpeg or .png extension (any case).
func imageExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// ImageFolder opens dir/<class>/*.{jpg,jpeg,png} (extensions in any case).
// Labels follow the sorted class-folder order, or opts.ClassIndex when set.
// Images are decoded on demand: greyscale and CMYK images become RGB, so
// examples always have 3 channels. A corrupt image is skipped (its Example
// error wraps ErrSkipped, and the Loader counts it) or, with opts.Strict, is
// an error naming the file.
//
// A nil opts.Transform means the zero Pipeline (pixels in [0, 1] at the
// size of the first image). The output size is fixed by the pipeline; an
// image that would give another size is an error.
func ImageFolder(dir string, opts Options) (*Folder, error) {
	p := opts.pipeline(Pipeline{})
	t, err := compile(p)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	f := &Folder{dir: dir, strict: opts.Strict, t: t}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			f.classes = append(f.classes, e.Name())
		}
	}
	slices.Sort(f.classes)
	if len(f.classes) == 0 {
		return nil, fmt.Errorf("datasets: %s: no class folders: %w", dir, ErrNotFound)
	}
	index := map[string]int{}
	f.numClasses = len(f.classes)
	if opts.ClassIndex != "" {
		if index, f.numClasses, err = ReadClassIndex(opts.ClassIndex); err != nil {
			return nil, err
		}
	} else {
		for i, c := range f.classes {
			index[c] = i
		}
	}
	for _, c := range f.classes {
		label, ok := index[c]
		if !ok {
			return nil, fmt.Errorf("datasets: %s: class folder %s is not in class index %s: %w", dir, c, opts.ClassIndex, ErrFormat)
		}
		files, err := os.ReadDir(filepath.Join(dir, c))
		if err != nil {
			return nil, fmt.Errorf("datasets: image folder: %w", err)
		}
		for _, e := range files { // ReadDir sorts by name
			if e.Type().IsRegular() && imageExt(e.Name()) {
				f.paths = append(f.paths, filepath.Join(dir, c, e.Name()))
				f.labels = append(f.labels, int32(label))
			}
		}
	}
	if len(f.paths) == 0 {
		return nil, fmt.Errorf("datasets: %s: no .jpg, .jpeg or .png files in %d class folders: %w", dir, len(f.classes), ErrNotFound)
	}
	// The output size: the pipeline's, applied to the first readable image.
	var cfgErr error
	for _, path := range f.paths {
		h, w, err := imageSize(path)
		if err != nil {
			if cfgErr == nil {
				cfgErr = err
			}
			if opts.Strict {
				return nil, err
			}
			continue
		}
		f.oh, f.ow = p.Size(h, w)
		break
	}
	if f.oh == 0 || f.ow == 0 {
		return nil, fmt.Errorf("datasets: %s: no readable image: %w", dir, cfgErr)
	}
	return f, nil
}

func imageSize(path string) (h, w int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("datasets: %w", err)
	}
	defer fh.Close()
	cfg, _, err := image.DecodeConfig(fh)
	if err != nil {
		return 0, 0, fmt.Errorf("datasets: %s: corrupt image: %w", path, err)
	}
	if err := checkPixels(cfg, path); err != nil {
		return 0, 0, err
	}
	return cfg.Height, cfg.Width, nil
}

// ReadClassIndex reads a class-index file mapping class names (ImageNet
// wnids) to label indices. It accepts the JSON object of torchvision's
// imagenet_class_index.json ({"0": ["n01440764", "tench"], ...}) and text
// lines "wnid index" or "index wnid [name...]" (whitespace or tab
// separated; blank lines and lines starting with # are ignored). classes is
// the largest index plus one.
func ReadClassIndex(path string) (index map[string]int, classes int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("datasets: class index: %w", err)
	}
	index, err = parseClassIndex(data)
	if err != nil {
		return nil, 0, fmt.Errorf("datasets: %s: %w", path, err)
	}
	for _, i := range index {
		classes = max(classes, i+1)
	}
	return index, classes, nil
}

func parseClassIndex(data []byte) (map[string]int, error) {
	index := map[string]int{}
	add := func(name string, i int) error {
		if i < 0 || i >= 1<<20 {
			return fmt.Errorf("class %s: index %d out of range: %w", name, i, ErrFormat)
		}
		if _, dup := index[name]; dup {
			return fmt.Errorf("class %s listed twice: %w", name, ErrFormat)
		}
		index[name] = i
		return nil
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var m map[string][]string
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, fmt.Errorf("class index JSON: %w", err)
		}
		for k, v := range m {
			i, err := strconv.Atoi(k)
			if err != nil || len(v) == 0 {
				return nil, fmt.Errorf("class index entry %q: want \"index\": [\"wnid\", ...]: %w", k, ErrFormat)
			}
			if err := add(v[0], i); err != nil {
				return nil, err
			}
		}
		return index, nil
	}
	for n, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("line %d: want \"wnid index\": %w", n+1, ErrFormat)
		}
		name, num := fields[0], fields[1]
		if _, err := strconv.Atoi(fields[0]); err == nil {
			name, num = fields[1], fields[0]
		}
		i, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("line %d: want \"wnid index\": %w", n+1, ErrFormat)
		}
		if err := add(name, i); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	if len(index) == 0 {
		return nil, fmt.Errorf("empty class index: %w", ErrFormat)
	}
	return index, nil
}

// Len, Shape, NumClasses and Example implement Dataset.
func (f *Folder) Len() int             { return len(f.paths) }
func (f *Folder) Shape() (h, w, c int) { return f.oh, f.ow, 3 }
func (f *Folder) NumClasses() int      { return f.numClasses }

// Classes returns the class folder names in sorted order.
func (f *Folder) Classes() []string { return slices.Clone(f.classes) }

// Path returns the file of example i.
func (f *Folder) Path(i int) string { return f.paths[i] }

// Label returns the label of example i without decoding it.
func (f *Folder) Label(i int) int { return int(f.labels[i]) }

func (f *Folder) Example(i int, x []float32, rng *rand.Rand) (int, error) {
	if i < 0 || i >= len(f.paths) {
		return 0, fmt.Errorf("datasets: example %d of %d: %w", i, len(f.paths), ErrIndex)
	}
	path := f.paths[i]
	data, err := readRegular(path, MaxImageFileBytes)
	if err != nil {
		return 0, err
	}
	img, err := DecodeImage(data, path)
	if err != nil {
		if f.strict {
			return 0, err
		}
		return 0, fmt.Errorf("%w (%w)", err, ErrSkipped)
	}
	b := img.Bounds()
	if oh, ow := f.t.p.Size(b.Dy(), b.Dx()); oh != f.oh || ow != f.ow {
		return 0, fmt.Errorf("datasets: %s: %dx%d image gives %dx%d, want %dx%d (set a fixed-size transform): %w", path, b.Dx(), b.Dy(), ow, oh, f.ow, f.oh, ErrFormat)
	}
	if err := f.t.applyImage(img, x, 3, rng); err != nil {
		return 0, fmt.Errorf("datasets: %s: %w", path, err)
	}
	return int(f.labels[i]), nil
}

// splitDir finds root/<split>; "val" and "test" stand in for each other.
func splitDir(root, split string) (string, error) {
	names := []string{split}
	switch split {
	case "val":
		names = append(names, "test")
	case "test":
		names = append(names, "val")
	case "train":
	default:
		return "", fmt.Errorf("datasets: %s: unknown split %q (want train, val or test)", root, split)
	}
	looked := make([]string, 0, len(names))
	for _, n := range names {
		p := filepath.Join(root, n)
		if isDir(p) {
			return p, nil
		}
		looked = append(looked, p)
	}
	return "", fmt.Errorf("datasets: split %q: looked in %s: %w", split, strings.Join(looked, ", "), ErrNotFound)
}
