package datasets

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

func TestPipelineSize(t *testing.T) {
	tests := []struct {
		name   string
		p      Pipeline
		h, w   int
		oh, ow int
	}{
		{"zero", Pipeline{}, 32, 48, 32, 48},
		{"imagenet train", ImageNetTrain(224), 375, 500, 224, 224},
		{"imagenet eval", ImageNetEval(224), 375, 500, 224, 224},
		{"imagenet eval 128", ImageNetEval(128), 224, 224, 128, 128},
		{"cifar train", CIFARTrain(), 32, 32, 32, 32},
		{"cifar eval", CIFAREval(), 32, 32, 32, 32},
		{"resize only", Pipeline{Resize: 100}, 300, 200, 150, 100},
		{"resize only wide", Pipeline{Resize: 100}, 200, 300, 100, 150},
		{"centre crop", Pipeline{CenterCrop: 20}, 32, 32, 20, 20},
		{"random crop", Pipeline{RandomCrop: RandomCrop{Size: 24}}, 32, 32, 24, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if oh, ow := tt.p.Size(tt.h, tt.w); oh != tt.oh || ow != tt.ow {
				t.Errorf("Size(%d, %d) = %d, %d, want %d, %d", tt.h, tt.w, oh, ow, tt.oh, tt.ow)
			}
		})
	}
	if p := ImageNetEval(224); p.Resize != 256 {
		t.Errorf("ImageNetEval(224).Resize = %d, want 256", p.Resize)
	}
}

func TestPipelineValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Pipeline
		err  string
	}{
		{"zero", Pipeline{}, ""},
		{"presets", ImageNetTrain(224), ""},
		{"negative", Pipeline{Resize: -1}, "negative"},
		{"scale", Pipeline{RandomResizedCrop: RandomResizedCrop{Size: 8, Scale: [2]float64{0.5, 0.1}}}, "scale"},
		{"ratio", Pipeline{RandomResizedCrop: RandomResizedCrop{Size: 8, Ratio: [2]float64{0, 1}}}, "ratio"},
		{"flip", Pipeline{HFlip: 1.5}, "flip"},
		{"std", Pipeline{Std: [3]float32{1, 0, 1}}, "std[1]"},
		{"filter", Pipeline{Filter: 7}, "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestRandomResizedCropParams(t *testing.T) {
	c := RandomResizedCrop{Size: 224}
	rng := rngFor(1)
	for _, hw := range [][2]int{{224, 224}, {375, 500}, {500, 333}} {
		h, w := hw[0], hw[1]
		for range 2000 {
			top, left, ch, cw := c.params(h, w, rng)
			if top < 0 || left < 0 || ch <= 0 || cw <= 0 || top+ch > h || left+cw > w {
				t.Fatalf("%dx%d: crop (%d,%d) %dx%d outside the image", w, h, left, top, cw, ch)
			}
			area := float64(ch*cw) / float64(h*w)
			if area < 0.07 || area > 1.01 {
				t.Fatalf("area fraction %v", area)
			}
		}
	}
	// No try can fit: torchvision's central fallback with the ratio clamped.
	tests := []struct {
		h, w              int
		top, left, ch, cw int
		scale             [2]float64
	}{
		{10, 1000, 0, 493, 10, 13, [2]float64{0.9, 1}},
		{1000, 10, 493, 0, 13, 10, [2]float64{0.9, 1}},
	}
	for _, tt := range tests {
		top, left, ch, cw := RandomResizedCrop{Size: 8, Scale: tt.scale}.params(tt.h, tt.w, rng)
		if top != tt.top || left != tt.left || ch != tt.ch || cw != tt.cw {
			t.Errorf("%dx%d fallback: (%d,%d) %dx%d, want (%d,%d) %dx%d", tt.w, tt.h, left, top, cw, ch, tt.left, tt.top, tt.cw, tt.ch)
		}
	}
}

func realImage(t testing.TB) image.Image {
	return decodeFile(t, "testdata/cifar10/train/bird/0001.jpg")
}

func apply(t testing.TB, p Pipeline, img image.Image, seed uint64) ([]float32, int, int) {
	t.Helper()
	b := img.Bounds()
	oh, ow := p.Size(b.Dy(), b.Dx())
	x := make([]float32, oh*ow*3)
	var rng = rngFor(seed)
	if seed == 0 {
		rng = nil
	}
	if err := p.Apply(img, x, rng); err != nil {
		t.Fatal(err)
	}
	return x, oh, ow
}

func TestFlipAndCrop(t *testing.T) {
	img := realImage(t)
	base, _, _ := apply(t, Pipeline{}, img, 0)
	at := func(y, x, c int) float32 {
		if y < 0 || y >= 32 || x < 0 || x >= 32 {
			return 0
		}
		return base[(y*32+x)*3+c]
	}
	for seed := uint64(1); seed <= 20; seed++ {
		p := CIFARTrain()
		p.Mean, p.Std = [3]float32{}, [3]float32{}
		got, _, _ := apply(t, p, img, seed)
		// Replay the draws: crop offsets, then the flip coin.
		r := rngFor(seed)
		oy, ox := r.IntN(9), r.IntN(9)
		flip := r.Float64() < 0.5
		for y := range 32 {
			for x := range 32 {
				xs := x
				if flip {
					xs = 31 - x
				}
				for c := range 3 {
					if want := at(y+oy-4, xs+ox-4, c); got[(y*32+x)*3+c] != want {
						t.Fatalf("seed %d (offset %d,%d flip %v) pixel (%d,%d,%d): %v, want %v", seed, ox, oy, flip, x, y, c, got[(y*32+x)*3+c], want)
					}
				}
			}
		}
	}
	// nil rng: the CIFAR train preset leaves the image as it is.
	p := CIFARTrain()
	p.Mean, p.Std = [3]float32{}, [3]float32{}
	if got, _, _ := apply(t, p, img, 0); !equalF(got, base) {
		t.Error("CIFARTrain with nil rng is not the identity")
	}
}

func equalF(a, b []float32) bool {
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

func TestResize(t *testing.T) {
	img := decodeFile(t, "testdata/imagenette/val/n01440764/ILSVRC2012_val_00009111.JPEG")
	// Resize 224 of a 224 image followed by a centre crop of 224 is the identity.
	id, _, _ := apply(t, Pipeline{}, img, 0)
	same, _, _ := apply(t, Pipeline{Resize: 224, CenterCrop: 224}, img, 0)
	if !equalF(id, same) {
		t.Error("Resize(224)+CenterCrop(224) of a 224 image is not the identity")
	}
	// Resize(112) equals x/image/draw's bilinear scaling of the whole image.
	got, oh, ow := apply(t, Pipeline{Resize: 112}, img, 0)
	ref := image.NewRGBA(image.Rect(0, 0, 112, 112))
	draw.BiLinear.Scale(ref, ref.Bounds(), img, img.Bounds(), draw.Src, nil)
	if oh != 112 || ow != 112 {
		t.Fatalf("size %dx%d", ow, oh)
	}
	for y := range 112 {
		for x := range 112 {
			for c := range 3 {
				if want := float32(ref.Pix[y*ref.Stride+4*x+c]) / 255; got[(y*112+x)*3+c] != want {
					t.Fatalf("pixel (%d,%d,%d): %v, want %v", x, y, c, got[(y*112+x)*3+c], want)
				}
			}
		}
	}
	// CenterCrop without resizing takes the middle pixels.
	crop, _, _ := apply(t, Pipeline{CenterCrop: 100}, img, 0)
	for y := range 100 {
		for x := range 100 {
			for c := range 3 {
				if crop[(y*100+x)*3+c] != id[((y+62)*224+x+62)*3+c] {
					t.Fatalf("centre crop pixel (%d,%d,%d)", x, y, c)
				}
			}
		}
	}
	// ImageNetEval and ImageNetTrain with a nil rng stay close to the image's statistics.
	for _, p := range []Pipeline{ImageNetEval(224), ImageNetTrain(224)} {
		p.Mean, p.Std = [3]float32{}, [3]float32{}
		out, _, _ := apply(t, p, img, 0)
		if d := math.Abs(meanF(out) - meanF(id)); d > 0.05 {
			t.Errorf("%+v: mean %v vs %v", p, meanF(out), meanF(id))
		}
	}
}

func meanF(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v)
	}
	return s / float64(len(x))
}

// CMYK images (as image/jpeg returns for CMYK JPEGs) become RGB through the
// colour model; greyscale ones replicate the grey level.
func TestColourModels(t *testing.T) {
	img := realImage(t)
	b := img.Bounds()
	cmyk := image.NewCMYK(b)
	gray := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cmyk.Set(x, y, color.CMYKModel.Convert(img.At(x, y)))
			gray.Set(x, y, img.At(x, y))
		}
	}
	for _, p := range []Pipeline{{}, {Resize: 48}, ImageNetTrain(40)} {
		p.Mean, p.Std = [3]float32{}, [3]float32{}
		rgb, _, _ := apply(t, p, img, 5)
		fromCMYK, _, _ := apply(t, p, cmyk, 5)
		for i := range rgb {
			if math.Abs(float64(rgb[i]-fromCMYK[i])) > 3.0/255 {
				t.Fatalf("%+v value %d: CMYK %v, RGB %v", p, i, fromCMYK[i], rgb[i])
			}
		}
		g, _, _ := apply(t, p, gray, 5)
		for i := 0; i < len(g); i += 3 {
			if g[i] != g[i+1] || g[i] != g[i+2] {
				t.Fatalf("grey value %d: %v", i, g[i:i+3])
			}
		}
	}
}
