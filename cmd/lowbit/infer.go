package main

import (
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lowbit/lowbit/bitpack"
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
		return fmt.Errorf("want MODEL.lbq and an image or IDX images file, got %d arguments", len(pos))
	}
	if *top < 1 {
		return usagef("-top: %d is invalid: want ≥ 1", *top)
	}
	bm, err := bitpack.Load(pos[0])
	if err != nil {
		return err
	}
	if strings.Contains(filepath.Base(pos[1]), "idx3") {
		return inferIDX(bm, pos[1], stdout)
	}
	return inferImage(bm, pos[1], *top, stdout)
}

// pipeline is the model's input transform: resize the shorter side to the
// input size, centre-crop, normalise with the statistics in the header.
func pipeline(bm *bitpack.Model) datasets.Pipeline {
	in, info := bm.Input(), bm.Info()
	p := datasets.Pipeline{Resize: min(in[0], in[1]), CenterCrop: in[0]}
	if in[0] != in[1] {
		p.Resize, p.CenterCrop = 0, 0
	}
	for c := 0; c < 3 && len(info.Std) > 0; c++ {
		k := min(c, len(info.Std)-1)
		p.Mean[c], p.Std[c] = info.Mean[k], info.Std[k]
	}
	return p
}

func inferImage(bm *bitpack.Model, path string, top int, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	in := bm.Input()
	if in[2] == 1 {
		g := image.NewGray(img.Bounds())
		draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
		img = g
	} else if in[2] != 3 {
		return fmt.Errorf("%s: the model takes %d channels; images give 1 or 3", path, in[2])
	}
	p := pipeline(bm)
	oh, ow := p.Size(img.Bounds().Dy(), img.Bounds().Dx())
	if oh != in[0] || ow != in[1] {
		return fmt.Errorf("%s: a %dx%d image becomes %dx%d, the model takes %dx%d", path, img.Bounds().Dx(), img.Bounds().Dy(), ow, oh, in[1], in[0])
	}
	rgb := make([]float32, oh*ow*3)
	if err := p.Apply(img, rgb, nil); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	x := rgb
	if in[2] == 1 {
		x = make([]float32, oh*ow)
		for i := range x {
			x[i] = rgb[3*i]
		}
	}
	logits, err := bm.Predict(x, 1)
	if err != nil {
		return err
	}
	// softmax
	m := logits[0]
	for _, v := range logits {
		m = max(m, v)
	}
	prob := make([]float64, len(logits))
	var s float64
	for i, v := range logits {
		prob[i] = math.Exp(float64(v - m))
		s += prob[i]
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
		prob[i] /= s
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	fmt.Fprintf(w, "%s:\n", path)
	for r, c := range idx[:min(max(top, 1), len(idx))] {
		fmt.Fprintf(w, "  %d. class %d  p=%.4f  logit %.4f\n", r+1, c, prob[c], logits[c])
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
	p := pipeline(bm)
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
