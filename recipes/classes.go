package recipes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/models"
)

// classNamer is a dataset that names its classes in label order (ImageFolder).
type classNamer interface{ ClassNames() []string }

// fitClassNames records the training data's class list in the spec, which the
// checkpoint and the exported model file carry, or checks that a resumed
// model's list is the data's.
func fitClassNames(s *models.Spec, ds datasets.Dataset) error {
	cn, ok := ds.(classNamer)
	if !ok {
		return nil
	}
	names := cn.ClassNames()
	switch {
	case len(s.ClassNames) == 0:
		s.ClassNames = names
	case !slices.Equal(s.ClassNames, names):
		return fmt.Errorf("recipes: model %s was trained on classes %s; the data has %s", s.Name, short(s.ClassNames), short(names))
	}
	return nil
}

// short lists up to 8 names.
func short(names []string) string {
	if len(names) <= 8 {
		return "[" + strings.Join(names, " ") + "]"
	}
	return fmt.Sprintf("[%s ... (%d)]", strings.Join(names[:8], " "), len(names))
}
