package classify

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // decoders for Decode
	_ "image/png"
	"math"
	"sort"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/datasets"
)

// Errors of New and the Classifier's methods; test with errors.Is.
var (
	// ErrNoNormalisation reports a model file that does not record how
	// to normalise images (an old file or a raw-input model).
	ErrNoNormalisation = errors.New("classify: the model file records no input normalisation")
	// ErrInput reports an input the model cannot take: not a PNG or JPEG,
	// over the pixel limit, the wrong size or tensor length, k < 1.
	ErrInput = errors.New("classify: bad input")
)

// MaxPixels is Decode's default limit on width × height (64 megapixels):
// a small file can announce a huge canvas, and decoding allocates for it.
const MaxPixels = 1 << 26

// Label is one of the top-k classes of an input.
type Label struct {
	Class int     `json:"class"`
	Name  string  `json:"name,omitempty"` // empty when the model names no classes
	Prob  float64 `json:"prob"`           // softmax probability
	Logit float32 `json:"logit"`
}

// Classifier runs a packed model on images; it is safe for concurrent use
// (bitpack.Model.Predict is).
type Classifier struct {
	m     *bitpack.Model
	p     datasets.Pipeline
	in    []int // H, W, C
	names []string
}

// New returns a classifier of m's images. It refuses a model with no input
// normalisation (ErrNoNormalisation) or more than 3 input channels, and a
// class-name list whose length is not the number of classes.
func New(m *bitpack.Model) (*Classifier, error) {
	in, info := m.Input(), m.Info()
	if info.RawInput || len(info.Std) == 0 {
		return nil, fmt.Errorf("%w (model %s): re-export it from its checkpoint with `lowbit export`, or set Mean and Std in export.FreezeWith", ErrNoNormalisation, info.Name)
	}
	if in[2] != 1 && in[2] != 3 {
		return nil, fmt.Errorf("%w: model %s takes %d channels; images give 1 or 3", ErrInput, info.Name, in[2])
	}
	if n := len(info.ClassNames); n != 0 && n != m.Classes() {
		return nil, fmt.Errorf("classify: model %s names %d classes of %d", info.Name, n, m.Classes())
	}
	c := &Classifier{m: m, in: in, names: info.ClassNames}
	c.p = datasets.Pipeline{Resize: min(in[0], in[1]), CenterCrop: in[0]}
	if in[0] != in[1] {
		c.p.Resize, c.p.CenterCrop = 0, 0
	}
	for ch := 0; ch < 3; ch++ {
		k := min(ch, len(info.Std)-1)
		c.p.Mean[ch], c.p.Std[ch] = info.Mean[k], info.Std[k]
	}
	if err := c.p.Validate(); err != nil {
		return nil, fmt.Errorf("classify: model %s: %w", info.Name, err)
	}
	return c, nil
}

// Model returns the packed model.
func (c *Classifier) Model() *bitpack.Model { return c.m }

// Pipeline returns the input transform of images (without geometry for
// inputs already at the model's size, such as IDX files).
func (c *Classifier) Pipeline() datasets.Pipeline { return c.p }

// InputLen is the number of values of one input tensor (H·W·C).
func (c *Classifier) InputLen() int { return c.in[0] * c.in[1] * c.in[2] }

// Decode decodes a PNG or JPEG after checking, from its header, that it has
// at most maxPixels pixels (0 means MaxPixels). Errors wrap ErrInput.
func Decode(data []byte, maxPixels int) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = MaxPixels
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a PNG or JPEG image: %v", ErrInput, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("%w: a %dx%d image is over the limit of %d pixels", ErrInput, cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt image: %v", ErrInput, err)
	}
	return img, nil
}

// Tensor writes img, transformed as in training, into dst (InputLen values).
func (c *Classifier) Tensor(img image.Image, dst []float32) error {
	if len(dst) != c.InputLen() {
		return fmt.Errorf("classify: Tensor: %d values for an input of %d", len(dst), c.InputLen())
	}
	if c.in[2] == 1 {
		g := image.NewGray(img.Bounds())
		draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
		img = g
	}
	b := img.Bounds()
	oh, ow := c.p.Size(b.Dy(), b.Dx())
	if oh != c.in[0] || ow != c.in[1] {
		return fmt.Errorf("%w: a %dx%d image becomes %dx%d, the model takes %dx%d", ErrInput, b.Dx(), b.Dy(), ow, oh, c.in[1], c.in[0])
	}
	if c.in[2] == 3 {
		return c.p.Apply(img, dst, nil)
	}
	rgb := make([]float32, oh*ow*3)
	if err := c.p.Apply(img, rgb, nil); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = rgb[3*i]
	}
	return nil
}

// Classify returns the k most likely classes of img.
func (c *Classifier) Classify(img image.Image, k int) ([]Label, error) {
	out, err := c.ClassifyBatch([]image.Image{img}, k)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ClassifyBatch classifies imgs in one batched run of the model.
func (c *Classifier) ClassifyBatch(imgs []image.Image, k int) ([][]Label, error) {
	per := c.InputLen()
	x := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		if err := c.Tensor(img, x[i*per:(i+1)*per]); err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return c.Predict(x, len(imgs), k)
}

// Predict runs n input tensors (NHWC, already normalised, n·InputLen
// values) in one batch and returns the k most likely classes of each.
func (c *Classifier) Predict(x []float32, n, k int) ([][]Label, error) {
	if k < 1 {
		return nil, fmt.Errorf("%w: top-k %d, want ≥ 1", ErrInput, k)
	}
	if n < 1 || len(x) != n*c.InputLen() {
		return nil, fmt.Errorf("%w: %d values for %d inputs of %d", ErrInput, len(x), n, c.InputLen())
	}
	logits, err := c.m.Predict(x, n)
	if err != nil {
		return nil, err
	}
	nc := c.m.Classes()
	out := make([][]Label, n)
	for i := range out {
		out[i] = TopK(logits[i*nc:(i+1)*nc], k, c.names)
	}
	return out, nil
}

// TopK returns the k largest logits (fewer when there are fewer classes),
// most likely first and ties in class order, with their softmax
// probabilities; names, when not empty, names the classes.
func TopK(logits []float32, k int, names []string) []Label {
	if len(logits) == 0 {
		return nil
	}
	m := logits[0]
	for _, v := range logits {
		m = max(m, v)
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v - m))
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := make([]Label, min(max(k, 1), len(idx)))
	for r := range out {
		cl := idx[r]
		out[r] = Label{Class: cl, Prob: math.Exp(float64(logits[cl]-m)) / s, Logit: logits[cl]}
		if cl < len(names) {
			out[r].Name = names[cl]
		}
	}
	return out
}

// String is "class N (name)" or "class N".
func (l Label) String() string {
	if l.Name == "" {
		return fmt.Sprintf("class %d", l.Class)
	}
	return fmt.Sprintf("class %d (%s)", l.Class, l.Name)
}
