package ptq

import (
	"fmt"
	"math/rand/v2"

	"github.com/lowbit/lowbit/datasets"
)

// maxCalib caps the calibration set (images held in memory at once).
const maxCalib = 1 << 16

// LoadCalib draws n distinct images from ds (seeded), with its evaluation
// transform (no augmentation).
func LoadCalib(ds datasets.Dataset, n int, seed uint64) (Calib, error) {
	if n <= 0 {
		return Calib{}, fmt.Errorf("%w: %d calibration images: the calibration set is empty", ErrCalib, n)
	}
	if ds.Len() == 0 {
		return Calib{}, fmt.Errorf("%w: the dataset is empty", ErrCalib)
	}
	if n > ds.Len() || n > maxCalib {
		return Calib{}, fmt.Errorf("%w: %d calibration images, the dataset has %d (at most %d are used)", ErrCalib, n, ds.Len(), maxCalib)
	}
	h, w, c := ds.Shape()
	per := h * w * c
	idx := rand.New(rand.NewPCG(seed, 0xca1b)).Perm(ds.Len())[:n]
	out := Calib{X: make([]float32, n*per), Labels: make([]int, n)}
	for i, j := range idx {
		l, err := ds.Example(j, out.X[i*per:(i+1)*per], nil)
		if err != nil {
			return Calib{}, fmt.Errorf("ptq: calibration image %d: %w", j, err)
		}
		out.Labels[i] = l
	}
	return out, nil
}
