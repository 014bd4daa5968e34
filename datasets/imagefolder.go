package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"io/fs"
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
	classes    []string // this split's class folders, sorted
	names      []string // the class list in label order
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
// Labels follow opts.Classes when set (the training split's class list),
// else opts.ClassIndex, else the sorted class-folder order; a class folder
// missing from the list is an error. Symlinked class folders and images are
// followed; a broken one, or an image name that is not a regular file, is
// an error.
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
	f := &Folder{dir: dir, strict: opts.Strict, t: t}
	if f.classes, err = ClassFolders(dir); err != nil {
		return nil, err
	}
	index, err := f.classList(opts)
	if err != nil {
		return nil, err
	}
	for _, c := range f.classes {
		label, ok := index[c]
		if !ok {
			return nil, fmt.Errorf("datasets: %s: class folder %s is not in %s: %w", dir, c, f.listSource(opts), ErrFormat)
		}
		files, err := imageFiles(filepath.Join(dir, c))
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			f.paths = append(f.paths, filepath.Join(dir, c, name))
			f.labels = append(f.labels, int32(label))
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

// classList sets the label order (opts.Classes, opts.ClassIndex, or this
// split's sorted folders) and returns the name → label map.
func (f *Folder) classList(opts Options) (map[string]int, error) {
	index := map[string]int{}
	switch {
	case len(opts.Classes) > 0:
		for i, c := range opts.Classes {
			if _, dup := index[c]; dup {
				return nil, fmt.Errorf("datasets: class list names %s twice: %w", c, ErrFormat)
			}
			index[c] = i
		}
		f.names = slices.Clone(opts.Classes)
	case opts.ClassIndex != "":
		var n int
		var err error
		if index, n, err = ReadClassIndex(opts.ClassIndex); err != nil {
			return nil, err
		}
		f.names = make([]string, n)
		for c, i := range index {
			f.names[i] = c
		}
	default:
		for i, c := range f.classes {
			index[c] = i
		}
		f.names = slices.Clone(f.classes)
	}
	f.numClasses = len(f.names)
	return index, nil
}

func (f *Folder) listSource(opts Options) string {
	switch {
	case len(opts.Classes) > 0:
		return fmt.Sprintf("the training class list (%d classes: %s)", len(opts.Classes), strings.Join(opts.Classes[:min(len(opts.Classes), 5)], ", "))
	case opts.ClassIndex != "":
		return "class index " + opts.ClassIndex
	}
	return f.dir
}

// ClassFolders lists the class folders of an ImageFolder split, sorted:
// its subdirectories and symlinks to directories, except hidden ones. A
// broken symlink is an error naming it.
func ClassFolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("datasets: %s: broken symlink: %w", filepath.Join(dir, e.Name()), err)
			}
			isDir = st.IsDir()
		}
		if isDir {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("datasets: %s: no class folders: %w", dir, ErrNotFound)
	}
	return out, nil
}

// imageFiles lists the .jpg/.jpeg/.png names in a class folder, following
// symlinks; one that is broken or is not a regular file is an error.
func imageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !imageExt(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("datasets: %s: broken symlink: %w", path, err)
			}
			mode = st.Mode().Type()
		}
		if !mode.IsRegular() {
			return nil, fmt.Errorf("datasets: %s: not a regular file (mode %v): %w", path, mode, ErrFormat)
		}
		out = append(out, e.Name())
	}
	return out, nil
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
		if len(index) == 0 {
			return nil, fmt.Errorf("empty class index: %w", ErrFormat)
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

// Classes returns this split's class folder names in sorted order.
func (f *Folder) Classes() []string { return slices.Clone(f.classes) }

// ClassNames returns the class list in label order (NumClasses names; a
// class index file may leave gaps as "").
func (f *Folder) ClassNames() []string { return slices.Clone(f.names) }

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
