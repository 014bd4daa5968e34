package datasets

import (
	"image"
	"path/filepath"
	"testing"
)

// seedFor finds a seed whose draws (crop offsets, then the flip coin, as
// transform.final makes them) give the wanted crop window and flip.
func seedFor(t *testing.T, oy, ox int, flip bool) uint64 {
	t.Helper()
	for seed := uint64(1); seed < 1_000_000; seed++ {
		r := rngFor(seed)
		y, x := r.IntN(9), r.IntN(9)
		f := r.Float64() < 0.5
		if y == oy && x == ox && f == flip {
			return seed
		}
	}
	t.Fatalf("no seed gives offset (%d,%d) flip %v", oy, ox, flip)
	return 0
}

// TestCIFARAugmentWindows checks the standard CIFAR augmentation (CIFARTrain:
// pad 4, random 32×32 crop, horizontal flip, then normalise) pixel by pixel on
// a real CIFAR-10 image, for chosen crop windows with and without the flip:
// each output pixel is the normalised source pixel it maps to, and padding
// is a black pixel normalised (torchvision pads before Normalize).
func TestCIFARAugmentWindows(t *testing.T) {
	img := realImage(t)
	plain, _, _ := apply(t, CIFAREval(), img, 0)
	black, _, _ := apply(t, CIFAREval(), image.NewRGBA(image.Rect(0, 0, 32, 32)), 0)
	for _, tc := range []struct {
		name   string
		oy, ox int // window origin in the padded 40×40 image
		flip   bool
	}{
		{"centre", 4, 4, false},
		{"centre flipped", 4, 4, true},
		{"top-left", 0, 0, false},
		{"bottom-right flipped", 8, 8, true},
		{"top-right", 0, 8, false},
		{"left edge flipped", 3, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oh, ow := apply(t, CIFARTrain(), img, seedFor(t, tc.oy, tc.ox, tc.flip))
			if oh != 32 || ow != 32 {
				t.Fatalf("output %d×%d, want 32×32", oh, ow)
			}
			pads := 0
			for y := range 32 {
				for x := range 32 {
					xs := x
					if tc.flip {
						xs = 31 - x
					}
					sy, sx := y+tc.oy-4, xs+tc.ox-4
					for c := range 3 {
						want := black[c]
						if sy >= 0 && sy < 32 && sx >= 0 && sx < 32 {
							want = plain[(sy*32+sx)*3+c]
						} else if c == 0 {
							pads++
						}
						if g := got[(y*32+x)*3+c]; g != want {
							t.Fatalf("pixel (%d,%d) channel %d: %v, want %v", x, y, c, g, want)
						}
					}
				}
			}
			wantPads := 32*32 - (32-abs(tc.oy-4))*(32-abs(tc.ox-4))
			if pads != wantPads {
				t.Errorf("%d padded pixels, want %d", pads, wantPads)
			}
		})
	}
}

func abs(v int) int { return max(v, -v) }

// TestCIFARSplitsAugment checks what a named CIFAR training setup relies on:
// the cifar10 training split applies CIFARTrain with the loader's
// per-example RNG, and the test split is deterministic whatever the RNG.
func TestCIFARSplitsAugment(t *testing.T) {
	dir := filepath.Join("testdata", "cifar10")
	for _, tc := range []struct {
		split string
		want  Pipeline
	}{
		{"train", CIFARTrain()},
		{"test", CIFAREval()},
	} {
		t.Run(tc.split, func(t *testing.T) {
			ds, err := CIFAR10(dir, tc.split, Options{})
			if err != nil {
				t.Fatal(err)
			}
			first := filepath.Join(dir, tc.split, "airplane", "0000.jpg")
			img := decodeFile(t, first)
			for seed := uint64(1); seed <= 8; seed++ {
				x := make([]float32, 32*32*3)
				if _, err := ds.Example(0, x, rngFor(seed)); err != nil {
					t.Fatal(err)
				}
				want, _, _ := apply(t, tc.want, img, seed)
				if !equalF(x, want) {
					t.Fatalf("seed %d: example 0 (%s) differs from %s's preset applied with the same draws", seed, first, tc.split)
				}
			}
		})
	}
}
