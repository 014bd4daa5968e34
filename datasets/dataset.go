package datasets

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Dataset is a finite, indexable set of labelled images.
//
// Example must be safe for concurrent use by several goroutines.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Shape is the size of one example: height, width and channels.
	Shape() (h, w, c int)
	// NumClasses is the number of label values: labels lie in [0, NumClasses).
	NumClasses() int
	// Example writes example i (normalised, NHWC) into x (len h*w*c) and
	// returns its label. rng is non-nil for training-time random transforms
	// (a per-example RNG derived from seed, epoch and index) and nil for
	// eval, which makes every transform deterministic.
	Example(i int, x []float32, rng *rand.Rand) (label int, err error)
}

// Sentinel errors; test for them with errors.Is.
var (
	// ErrNotFound reports a dataset that is in none of the places Locate looks.
	ErrNotFound = errors.New("dataset not found")
	// ErrFormat reports a file whose contents do not follow its format.
	ErrFormat = errors.New("bad format")
	// ErrSkipped wraps the error of an example that a non-strict dataset
	// asks the Loader to leave out (a corrupt image); the Loader counts it.
	ErrSkipped = errors.New("example skipped")
	// ErrIndex reports an example index outside [0, Len).
	ErrIndex = errors.New("index out of range")
)

// Scaling selects how pixel values map to floats.
type Scaling int

const (
	// Standardize maps a pixel p to (p/255 − mean)/std with the dataset's
	// (or the transform's) per-channel mean and std. It is the default.
	Standardize Scaling = iota
	// Unit maps p to p/255, in [0, 1].
	Unit
	// Symmetric maps p to 2p/255 − 1, in [−1, 1].
	Symmetric
)

// ParseScaling reads back a Scaling's String ("" means Standardize). An unknown
// name returns Standardize with an error.
func ParseScaling(name string) (Scaling, error) {
	for _, sc := range []Scaling{Standardize, Unit, Symmetric} {
		if sc.String() == name {
			return sc, nil
		}
	}
	if name == "" {
		return Standardize, nil
	}
	return Standardize, fmt.Errorf("datasets: unknown scaling %q (known: standardize, unit, symmetric)", name)
}

func (s Scaling) String() string {
	switch s {
	case Standardize:
		return "standardize"
	case Unit:
		return "unit"
	case Symmetric:
		return "symmetric"
	}
	return "scaling(?)"
}

// Options configure the dataset constructors and Open. The zero value gives
// each dataset its usual preset: standardised pixels, torchvision-style
// augmentation on the training split and deterministic transforms elsewhere.
type Options struct {
	// Scaling overrides the normalisation of the transform when it is not
	// Standardize.
	Scaling Scaling
	// Transform replaces the dataset's preset pipeline when non-nil.
	Transform *Pipeline
	// Strict makes a corrupt image an error instead of a skipped example.
	Strict bool
	// ClassIndex, for ImageFolder, names a file that maps class folder names
	// (ImageNet wnids) to label indices: lines "wnid index" (or
	// "index wnid ...") or the JSON object {"0": ["n01440764", "tench"], ...}.
	ClassIndex string
	// Classes, for ImageFolder, is the class list in label order (the
	// training split's, as stored in a checkpoint); a class folder not in it
	// is an error. It takes precedence over ClassIndex.
	Classes []string
}

// pipeline returns the transform for a dataset whose preset is def.
func (o Options) pipeline(def Pipeline) Pipeline {
	p := def
	if o.Transform != nil {
		p = *o.Transform
	}
	switch o.Scaling {
	case Unit:
		p.Mean, p.Std = [3]float32{}, [3]float32{}
	case Symmetric:
		p.Mean, p.Std = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
	}
	return p
}
