package datasets

import (
	"bytes"
	"image"
	"testing"
)

// FuzzIDX: DecodeIDX never panics, and what it accepts is consistent.
func FuzzIDX(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := DecodeIDX(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if len(idx.Data) != n || idx.Magic>>8 != 0x08 || len(idx.Dims) != int(idx.Magic&0xff) {
			t.Fatalf("accepted magic 0x%x dims %v with %d bytes", idx.Magic, idx.Dims, len(idx.Data))
		}
	})
}

// FuzzCIFAR: DecodeCIFAR never panics; accepted input has whole records.
func FuzzCIFAR(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, hundred bool) {
		lb := 1
		if hundred {
			lb = 2
		}
		recs, err := DecodeCIFAR(bytes.NewReader(data), "fuzz", lb)
		if err != nil {
			return
		}
		n := len(data) / (lb + cifarPixels)
		if len(recs.Labels) != n || len(recs.Pixels) != n*cifarPixels || len(data)%(lb+cifarPixels) != 0 {
			t.Fatalf("%d bytes gave %d labels, %d pixels", len(data), len(recs.Labels), len(recs.Pixels))
		}
		// The first record's first pixel is its first red, green and blue bytes.
		if recs.Pixels[0] != data[lb] || recs.Pixels[1] != data[lb+1024] || recs.Pixels[2] != data[lb+2048] {
			t.Fatal("CHW to HWC conversion")
		}
	})
}

// FuzzImage: decoding and every preset transform never panic on any input.
func FuzzImage(f *testing.F) {
	presets := []Pipeline{{}, ImageNetTrain(24), ImageNetEval(24), CIFARTrain(), {CenterCrop: 16, Resize: 20}}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > 1<<20 {
			return // keep decoding bombs out of the fuzz loop
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		b := img.Bounds()
		for _, p := range presets {
			if p.RandomCrop.Size > 0 && (b.Dx() < 24 || b.Dy() < 24) {
				continue // a crop larger than the padded image is an error, checked below
			}
			oh, ow := p.Size(b.Dy(), b.Dx())
			x := make([]float32, oh*ow*3)
			rng := rngFor(seed)
			if seed%2 == 0 {
				rng = nil
			}
			if err := p.Apply(img, x, rng); err != nil && p.RandomCrop.Size == 0 {
				t.Fatalf("%+v on %dx%d: %v", p, b.Dx(), b.Dy(), err)
			}
		}
	})
}

// FuzzClassIndex: any class-index file either fails or maps distinct names
// to indices in [0, 2^20), and ImageFolder's class list built from it has
// one slot per index.
func FuzzClassIndex(f *testing.F) {
	f.Add([]byte("n01440764 0\nn02102040 1\n"))
	f.Add([]byte("# comment\n0 n01440764 tench\n\n2 n03445777 golf ball\n"))
	f.Add([]byte(`{"0": ["n01440764", "tench"], "1": ["n02102040", "springer"]}`))
	f.Add([]byte(`{"1048576": ["x"]}`))
	f.Add([]byte("a 1\na 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		index, err := parseClassIndex(data)
		if err != nil {
			return
		}
		if len(index) == 0 {
			t.Fatal("an empty index parsed")
		}
		for name, i := range index {
			if i < 0 || i >= 1<<20 {
				t.Fatalf("class %q has index %d", name, i)
			}
		}
	})
}
