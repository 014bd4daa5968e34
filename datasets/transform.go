package datasets

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sync"

	"golang.org/x/image/draw"
)

// Per-channel statistics of pixel/255. The RGB ones are reached through
// the presets (ImageNetTrain(224).Mean and so on); they are not exported as
// variables so that no package-level state is mutable.
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406} // torchvision
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
	cifarMean    = [3]float32{0.4914, 0.4822, 0.4465} // CIFAR-10 training set
	cifarStd     = [3]float32{0.2470, 0.2435, 0.2616}
)

// Training-set statistics of MNIST and Fashion-MNIST (one channel).
const (
	MNISTMean   float32 = 0.1307
	MNISTStd    float32 = 0.3081
	FashionMean float32 = 0.2860
	FashionStd  float32 = 0.3530
)

// Filter selects the resampling kernel of golang.org/x/image/draw.
type Filter int

const (
	// BiLinear is the default: the tent kernel, widened when shrinking.
	BiLinear Filter = iota
	// CatmullRom is the bicubic Catmull-Rom kernel (sharper, slower).
	CatmullRom
)

func (f Filter) kernel() *draw.Kernel {
	if f == CatmullRom {
		return draw.CatmullRom
	}
	return draw.BiLinear
}

// RandomResizedCrop crops a random area of the image with a random aspect
// ratio and resizes it to Size×Size, as torchvision's RandomResizedCrop: up
// to 10 tries to draw an area fraction in Scale and a log-uniform aspect
// ratio in Ratio that fit the image, else the central crop of the whole
// image with its aspect ratio clamped to Ratio.
//
// With a nil rng it resizes the shorter side to Size and takes the centre
// Size×Size crop.
type RandomResizedCrop struct {
	Size  int        // output side; 0 disables the stage
	Scale [2]float64 // area fraction range; zero value means [0.08, 1]
	Ratio [2]float64 // aspect (w/h) range; zero value means [3/4, 4/3]
}

func (c RandomResizedCrop) ranges() (scale, ratio [2]float64) {
	scale, ratio = c.Scale, c.Ratio
	if scale == [2]float64{} {
		scale = [2]float64{0.08, 1}
	}
	if ratio == [2]float64{} {
		ratio = [2]float64{3.0 / 4, 4.0 / 3}
	}
	return scale, ratio
}

// params returns the crop (top, left, height, width) for an h×w image.
func (c RandomResizedCrop) params(h, w int, rng *rand.Rand) (top, left, ch, cw int) {
	scale, ratio := c.ranges()
	area := float64(h * w)
	lr0, lr1 := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + (scale[1]-scale[0])*rng.Float64())
		ar := math.Exp(lr0 + (lr1-lr0)*rng.Float64())
		cw = int(math.RoundToEven(math.Sqrt(target * ar)))
		ch = int(math.RoundToEven(math.Sqrt(target / ar)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			top = rng.IntN(h - ch + 1)
			left = rng.IntN(w - cw + 1)
			return top, left, ch, cw
		}
	}
	// Fallback: central crop with the aspect ratio clamped to Ratio.
	in := float64(w) / float64(h)
	switch {
	case in < ratio[0]:
		cw, ch = w, int(math.RoundToEven(float64(w)/ratio[0]))
	case in > ratio[1]:
		ch, cw = h, int(math.RoundToEven(float64(h)*ratio[1]))
	default:
		cw, ch = w, h
	}
	return (h - ch) / 2, (w - cw) / 2, ch, cw
}

// RandomCrop pads the image by Padding zero pixels on every side and crops
// a random Size×Size window (torchvision RandomCrop(size, padding)). With a
// nil rng it takes the centre window. Size 0 keeps the input size.
type RandomCrop struct {
	Size    int
	Padding int
}

// Pipeline is a typed transform applied to every example. Its stages run in
// this order:
//
//  1. geometry: RandomResizedCrop when its Size > 0; otherwise Resize (the
//     shorter side to Resize, keeping the aspect ratio) then CenterCrop
//     (a centre CenterCrop×CenterCrop window, zero-padded if larger);
//  2. RandomCrop, when its Size or Padding is set;
//  3. a horizontal flip with probability HFlip (never with a nil rng);
//  4. ToTensor and Normalize: p/255, then (·−Mean)/Std when Std is non-zero.
//
// The zero value converts the image to floats in [0, 1] at its own size.
// Transparent pixels are composited over black.
type Pipeline struct {
	RandomResizedCrop RandomResizedCrop
	Resize            int
	CenterCrop        int
	RandomCrop        RandomCrop
	HFlip             float64
	Mean, Std         [3]float32
	Filter            Filter
}

// ImageNetTrain is torchvision's ImageNet training transform:
// RandomResizedCrop(size), RandomHorizontalFlip, Normalize with mean
// (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
func ImageNetTrain(size int) Pipeline {
	return Pipeline{RandomResizedCrop: RandomResizedCrop{Size: size}, HFlip: 0.5, Mean: imageNetMean, Std: imageNetStd}
}

// ImageNetEval is torchvision's ImageNet evaluation transform:
// Resize(size·256/224), CenterCrop(size), Normalize as ImageNetTrain.
func ImageNetEval(size int) Pipeline {
	return Pipeline{Resize: int(math.Round(float64(size) * 256 / 224)), CenterCrop: size, Mean: imageNetMean, Std: imageNetStd}
}

// CIFARTrain is the standard CIFAR augmentation: RandomCrop(32, padding 4),
// RandomHorizontalFlip, Normalize with mean (0.4914, 0.4822, 0.4465) and
// std (0.2470, 0.2435, 0.2616).
func CIFARTrain() Pipeline {
	return Pipeline{RandomCrop: RandomCrop{Size: 32, Padding: 4}, HFlip: 0.5, Mean: cifarMean, Std: cifarStd}
}

// CIFAREval only normalises with the CIFAR statistics.
func CIFAREval() Pipeline { return Pipeline{Mean: cifarMean, Std: cifarStd} }

// Random reports whether the pipeline has a random stage.
func (p Pipeline) Random() bool {
	return p.RandomResizedCrop.Size > 0 || p.HFlip > 0 ||
		(p.RandomCrop != RandomCrop{})
}

// Validate reports a configuration that cannot run.
func (p Pipeline) Validate() error {
	rrc := p.RandomResizedCrop
	scale, ratio := rrc.ranges()
	switch {
	case rrc.Size < 0 || p.Resize < 0 || p.CenterCrop < 0 || p.RandomCrop.Size < 0 || p.RandomCrop.Padding < 0:
		return fmt.Errorf("datasets: pipeline: negative size")
	case !(scale[0] > 0 && scale[0] <= scale[1]):
		return fmt.Errorf("datasets: pipeline: random-resized-crop scale %v: want 0 < min <= max", scale)
	case !(ratio[0] > 0 && ratio[0] <= ratio[1]):
		return fmt.Errorf("datasets: pipeline: random-resized-crop ratio %v: want 0 < min <= max", ratio)
	case !(p.HFlip >= 0 && p.HFlip <= 1):
		return fmt.Errorf("datasets: pipeline: flip probability %v outside [0, 1]", p.HFlip)
	case p.Filter != BiLinear && p.Filter != CatmullRom:
		return fmt.Errorf("datasets: pipeline: unknown filter %d", p.Filter)
	}
	if p.Std != [3]float32{} {
		for c, s := range p.Std {
			if !(s > 0) {
				return fmt.Errorf("datasets: pipeline: std[%d] = %v: want > 0", c, s)
			}
		}
	}
	return nil
}

// geometry returns the output size of stage 1 for an h×w input.
func (p Pipeline) geometry(h, w int) (oh, ow int) {
	if s := p.RandomResizedCrop.Size; s > 0 {
		return s, s
	}
	oh, ow = h, w
	if r := p.Resize; r > 0 && h > 0 && w > 0 {
		oh, ow = resized(h, w, r)
	}
	if c := p.CenterCrop; c > 0 {
		oh, ow = c, c
	}
	return oh, ow
}

// resized is torchvision's Resize(r) output size: the shorter side becomes r.
func resized(h, w, r int) (oh, ow int) {
	if w <= h {
		return int(int64(r) * int64(h) / int64(w)), r
	}
	return r, int(int64(r) * int64(w) / int64(h))
}

// Size returns the output height and width for an h×w input.
func (p Pipeline) Size(h, w int) (oh, ow int) {
	oh, ow = p.geometry(h, w)
	if s := p.RandomCrop.Size; s > 0 {
		oh, ow = s, s
	}
	return oh, ow
}

// Apply transforms img into x (NHWC, 3 channels, len oh*ow*3 where oh, ow =
// p.Size of the image size). rng drives the random stages; nil gives the
// deterministic eval behaviour.
func (p Pipeline) Apply(img image.Image, x []float32, rng *rand.Rand) error {
	t, err := compile(p)
	if err != nil {
		return err
	}
	return t.applyImage(img, x, 3, rng)
}

// transform is a compiled Pipeline: the normalisation table and scratch images.
type transform struct {
	p    Pipeline
	lut  [3][256]float32
	pool sync.Pool // *scratch
}

type scratch struct {
	rgba *image.RGBA
	gray *image.Gray
	src  *image.RGBA // frame → image for the geometric stage
	srcG *image.Gray
}

func compile(p Pipeline) (*transform, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	t := &transform{p: p}
	norm := p.Std != [3]float32{}
	for c := range 3 {
		for v := range 256 {
			f := float32(v) / 255
			if norm {
				f = (f - p.Mean[c]) / p.Std[c]
			}
			t.lut[c][v] = f
		}
	}
	t.pool.New = func() any { return new(scratch) }
	return t, nil
}

// frame is a view of 8-bit pixels: bpp 1 (grey), 3 (RGB) or 4 (RGBA).
type frame struct {
	pix               []uint8
	h, w, stride, bpp int
}

func rgbaOf(img *image.RGBA) frame {
	b := img.Bounds()
	return frame{pix: img.Pix, h: b.Dy(), w: b.Dx(), stride: img.Stride, bpp: 4}
}

func grayOf(img *image.Gray) frame {
	b := img.Bounds()
	return frame{pix: img.Pix, h: b.Dy(), w: b.Dx(), stride: img.Stride, bpp: 1}
}

func (t *transform) hasGeometry() bool {
	p := &t.p
	return p.RandomResizedCrop.Size > 0 || p.Resize > 0 || p.CenterCrop > 0
}

// applyFrame transforms in-memory pixels into x with c channels (1 or 3).
func (t *transform) applyFrame(f frame, x []float32, c int, rng *rand.Rand) error {
	if !t.hasGeometry() {
		return t.final(f, x, c, rng)
	}
	s := t.pool.Get().(*scratch)
	defer t.pool.Put(s)
	var img image.Image
	if f.bpp == 1 {
		s.srcG = ensureGray(s.srcG, f.h, f.w)
		for y := range f.h {
			copy(s.srcG.Pix[y*s.srcG.Stride:y*s.srcG.Stride+f.w], f.pix[y*f.stride:])
		}
		img = s.srcG
	} else {
		s.src = ensureRGBA(s.src, f.h, f.w)
		for y := range f.h {
			d := s.src.Pix[y*s.src.Stride:]
			sp := f.pix[y*f.stride:]
			for x := range f.w {
				d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = sp[x*f.bpp], sp[x*f.bpp+1], sp[x*f.bpp+2], 255
			}
		}
		img = s.src
	}
	return t.geometric(img, x, c, rng, s)
}

func (t *transform) applyImage(img image.Image, x []float32, c int, rng *rand.Rand) error {
	s := t.pool.Get().(*scratch)
	defer t.pool.Put(s)
	return t.geometric(img, x, c, rng, s)
}

func ensureRGBA(m *image.RGBA, h, w int) *image.RGBA {
	if m != nil && cap(m.Pix) >= 4*h*w {
		m.Pix, m.Stride, m.Rect = m.Pix[:4*h*w], 4*w, image.Rect(0, 0, w, h)
		return m
	}
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

func ensureGray(m *image.Gray, h, w int) *image.Gray {
	if m != nil && cap(m.Pix) >= h*w {
		m.Pix, m.Stride, m.Rect = m.Pix[:h*w], w, image.Rect(0, 0, w, h)
		return m
	}
	return image.NewGray(image.Rect(0, 0, w, h))
}

// geometric runs stage 1 into scratch and then the final stages.
func (t *transform) geometric(img image.Image, x []float32, c int, rng *rand.Rand, s *scratch) error {
	p := &t.p
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	if h <= 0 || w <= 0 {
		return fmt.Errorf("datasets: empty %dx%d image: %w", w, h, ErrFormat)
	}
	oh, ow := p.geometry(h, w)
	// sr is the source rectangle (relative to b.Min) drawn into dr of the
	// oh×ow output; pixels outside dr are zero.
	var sr, dr image.Rectangle
	switch {
	case p.RandomResizedCrop.Size > 0 && rng != nil:
		top, left, ch, cw := p.RandomResizedCrop.params(h, w, rng)
		sr, dr = image.Rect(left, top, left+cw, top+ch), image.Rect(0, 0, ow, oh)
	case p.RandomResizedCrop.Size > 0:
		// Eval: shorter side to Size, centre crop: the centred square.
		m := min(h, w)
		top, left := (h-m)/2, (w-m)/2
		sr, dr = image.Rect(left, top, left+m, top+m), image.Rect(0, 0, ow, oh)
	case p.Resize > 0:
		rh, rw := resized(h, w, p.Resize)
		crop := p.CenterCrop
		if crop == 0 {
			sr, dr = image.Rect(0, 0, w, h), image.Rect(0, 0, rw, rh)
			break
		}
		sr, dr = centreCrop(rh, rw, crop)
		// centreCrop worked in resized coordinates; map sr back to the source.
		sx, sy := float64(w)/float64(rw), float64(h)/float64(rh)
		sr = image.Rect(int(math.Round(float64(sr.Min.X)*sx)), int(math.Round(float64(sr.Min.Y)*sy)),
			int(math.Round(float64(sr.Max.X)*sx)), int(math.Round(float64(sr.Max.Y)*sy)))
	case p.CenterCrop > 0:
		sr, dr = centreCrop(h, w, p.CenterCrop)
	default:
		sr, dr = image.Rect(0, 0, w, h), image.Rect(0, 0, w, h)
	}
	sr = sr.Add(b.Min)

	var dst draw.Image
	var f frame
	if _, gray := img.(*image.Gray); gray && c == 1 {
		s.gray = ensureGray(s.gray, oh, ow)
		dst, f = s.gray, grayOf(s.gray)
	} else {
		s.rgba = ensureRGBA(s.rgba, oh, ow)
		dst, f = s.rgba, rgbaOf(s.rgba)
	}
	if dr != dst.Bounds() {
		clear(f.pix)
	}
	if sr.Dx() == dr.Dx() && sr.Dy() == dr.Dy() {
		draw.Draw(dst, dr, img, sr.Min, draw.Src)
	} else if !sr.Empty() && !dr.Empty() {
		p.Filter.kernel().Scale(dst, dr, img, sr, draw.Src, nil)
	}
	if _, rgba := dst.(*image.RGBA); rgba && !opaque(img) {
		// Drop alpha: x/image/draw writes premultiplied colour, which is
		// colour composited over black.
		for i := 3; i < len(f.pix); i += 4 {
			f.pix[i] = 255
		}
	}
	return t.final(f, x, c, rng)
}

func opaque(img image.Image) bool {
	switch img.(type) {
	case *image.YCbCr, *image.Gray, *image.CMYK:
		return true
	}
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return img.ColorModel() == color.GrayModel
}

// centreCrop returns the source rectangle of the centre size×size window of
// an h×w image, clipped to the image, and where it lands in the output
// (torchvision CenterCrop, which zero-pads a window larger than the image).
func centreCrop(h, w, size int) (sr, dr image.Rectangle) {
	top := int(math.RoundToEven(float64(h-size) / 2))
	left := int(math.RoundToEven(float64(w-size) / 2))
	win := image.Rect(left, top, left+size, top+size)
	sr = win.Intersect(image.Rect(0, 0, w, h))
	return sr, sr.Sub(win.Min)
}

// final runs the crop, flip and normalisation stages from f into x.
func (t *transform) final(f frame, x []float32, c int, rng *rand.Rand) error {
	p := &t.p
	oh, ow := f.h, f.w
	if s := p.RandomCrop.Size; s > 0 {
		oh, ow = s, s
	}
	if len(x) != oh*ow*c {
		return fmt.Errorf("datasets: output buffer holds %d values, want %d×%d×%d", len(x), oh, ow, c)
	}
	pad := p.RandomCrop.Padding
	spanY, spanX := f.h+2*pad-oh, f.w+2*pad-ow
	if spanY < 0 || spanX < 0 {
		return fmt.Errorf("datasets: random crop %dx%d larger than padded %dx%d image", ow, oh, f.w+2*pad, f.h+2*pad)
	}
	oy, ox := spanY/2, spanX/2
	if rng != nil && (p.RandomCrop != RandomCrop{}) {
		oy, ox = rng.IntN(spanY+1), rng.IntN(spanX+1)
	}
	flip := rng != nil && p.HFlip > 0 && rng.Float64() < p.HFlip
	var zero [3]float32
	for ch := range c {
		zero[ch] = t.lut[ch][0]
	}
	// Channel ch reads byte min(ch, bpp-1): grey replicates to RGB.
	var off [3]int
	for ch := range 3 {
		off[ch] = min(ch, f.bpp-1)
	}
	l0, l1, l2 := &t.lut[0], &t.lut[1], &t.lut[2]
	for y := range oh {
		row := x[y*ow*c : (y+1)*ow*c]
		sy := y + oy - pad
		if sy < 0 || sy >= f.h {
			for i := range ow {
				copy(row[i*c:i*c+c], zero[:c])
			}
			continue
		}
		src := f.pix[sy*f.stride:]
		for i := range ow {
			xi := i
			if flip {
				xi = ow - 1 - i
			}
			sx := xi + ox - pad
			o := row[i*c : i*c+c]
			if sx < 0 || sx >= f.w {
				copy(o, zero[:c])
				continue
			}
			px := src[sx*f.bpp:]
			if c == 1 {
				o[0] = l0[px[0]]
				continue
			}
			o[0], o[1], o[2] = l0[px[off[0]]], l1[px[off[1]]], l2[px[off[2]]]
		}
	}
	return nil
}
