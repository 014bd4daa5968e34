package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/datasets"
)

func init() {
	register("infer", "run a packed model on a PNG/JPEG image (top-k) or a labelled IDX set (accuracy)", cmdInfer)
}

func cmdInfer(args []string, stdout io.Writer) error {
	fs := newFlags("infer")
	top := fs.Int("top", 5, "print the k most likely classes of an image")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want MODEL.lbq and an image or IDX images file, got %d arguments", len(pos))
	}
	if *top < 1 {
		return usagef("-top: %d is invalid: want ≥ 1", *top)
	}
	bm, err := bitpack.Load(pos[0])
	if err != nil {
		return err
	}
	return inferInput(bm, pos[1], *top, stdout)
}

// inferInput runs an image or an IDX images file, told apart by content.
func inferInput(bm *bitpack.Model, path string, top int, stdout io.Writer) error {
	kind, err := detectInput(path)
	if err != nil {
		return err
	}
	if kind == inputIDX {
		return inferIDX(bm, path, stdout)
	}
	return inferImage(bm, path, top, stdout)
}

const (
	inputImage = "image"
	inputIDX   = "idx"
)

// detectInput tells a PNG or JPEG from an IDX images file (magic
// 00 00 08 03, raw or gzip) by its first bytes. Anything else, and a path
// that is not a regular file, is an error naming the path.
func detectInput(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file (mode %v)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	head := make([]byte, 4096) // enough for a gzip header and the first deflate block's tables
	n, _ := io.ReadFull(f, head)
	f.Close()
	return sniffInput(head[:n], path)
}

// sniffInput classifies the first bytes of an input file.
func sniffInput(head []byte, path string) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")), bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return inputImage, nil
	case bytes.HasPrefix(head, []byte{0, 0, 8, 3}):
		return inputIDX, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		var magic [4]byte
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err == nil {
			_, err = io.ReadFull(zr, magic[:])
		}
		if err != nil || magic != [4]byte{0, 0, 8, 3} {
			return "", fmt.Errorf("%s: a gzip file that does not hold an IDX images file (magic 00000803)", path)
		}
		return inputIDX, nil
	}
	return "", fmt.Errorf("%s: not a PNG, JPEG or IDX images file (starts %x)", path, head[:min(len(head), 8)])
}

func inferImage(bm *bitpack.Model, path string, top int, w io.Writer) error {
	c, err := classify.New(bm)
	if err != nil {
		return err
	}
	img, err := datasets.ReadImage(path)
	if err != nil {
		return err
	}
	labels, err := c.Classify(img, top)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "%s:\n", path)
	for r, l := range labels {
		fmt.Fprintf(w, "  %d. %s  p=%.4f  logit %.4f\n", r+1, l, l.Prob, l.Logit)
	}
	return nil
}

// labelsBeside finds the labels file of an IDX images file
// (t10k-images-idx3-ubyte[.gz] → t10k-labels-idx1-ubyte[.gz]).
func labelsBeside(images string) (string, error) {
	dir, base := filepath.Split(images)
	lb := strings.Replace(strings.Replace(base, "images", "labels", 1), "idx3", "idx1", 1)
	for _, name := range []string{lb, strings.TrimSuffix(lb, ".gz"), strings.TrimSuffix(lb, ".gz") + ".gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil && name != base {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no labels file %s beside it", images, filepath.Join(dir, lb))
}

func inferIDX(bm *bitpack.Model, images string, w io.Writer) error {
	labels, err := labelsBeside(images)
	if err != nil {
		return err
	}
	cl, err := classify.New(bm)
	if err != nil {
		return err
	}
	p := cl.Pipeline()
	p.Resize, p.CenterCrop = 0, 0
	ds, err := datasets.NewIDXSet(images, labels, bm.Classes(), p)
	if err != nil {
		return err
	}
	h, wd, c := ds.Shape()
	in := bm.Input()
	if h != in[0] || wd != in[1] || c != in[2] {
		return fmt.Errorf("%s: images are %dx%dx%d, the model takes %dx%dx%d", images, h, wd, c, in[0], in[1], in[2])
	}
	const batch = 1000
	per := h * wd * c
	x := make([]float32, batch*per)
	y := make([]int, batch)
	correct, n := 0, ds.Len()
	for i := 0; i < n; i += batch {
		b := min(batch, n-i)
		for j := 0; j < b; j++ {
			if y[j], err = ds.Example(i+j, x[j*per:(j+1)*per], nil); err != nil {
				return err
			}
		}
		logits, err := bm.Predict(x[:b*per], b)
		if err != nil {
			return err
		}
		k := bm.Classes()
		for j := 0; j < b; j++ {
			row := logits[j*k : (j+1)*k]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best == y[j] {
				correct++
			}
		}
	}
	fmt.Fprintf(w, "%s on %s: accuracy %.2f%% (%d/%d)\n", bm.Info().Name, images, 100*float64(correct)/float64(max(n, 1)), correct, n)
	return nil
}
