package recipes

import (
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
)

// fitInputMeta records in the spec what a deployed model needs to read
// images as training did: the input normalisation of the dataset and
// scaling (datasets.InputNorm) and, for a built-in dataset, its class
// names (an ImageFolder's come from the data, see fitSpec). Fields already
// set (a resumed or restored spec) are kept.
func fitInputMeta(s *models.Spec, dataset string, sc datasets.Scaling) {
	if len(s.Std) == 0 && len(s.Input) == 3 {
		s.Mean, s.Std = datasets.InputNorm(dataset, sc, s.Input[2])
	}
	if len(s.ClassNames) == 0 {
		if names := datasets.ClassNames(dataset); len(names) == s.Classes {
			s.ClassNames = names
		}
	}
}

// specWithMeta is the checkpoint's model spec with the input metadata of
// its dataset and scaling filled in when the checkpoint predates it.
func (c *Checkpoint) specWithMeta() models.Spec {
	s := c.Model
	sc, _ := datasets.ParseScaling(c.Config.Scaling) // an unknown name reads as standardised, as resume does
	fitInputMeta(&s, c.Dataset, sc)
	return s
}
