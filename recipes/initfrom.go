package recipes

import (
	"fmt"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// InitFrom initialises m from the checkpoint at ckptPath, as LSQ does from a trained
// full-precision model (Esser et al. 2020): every tensor whose name and size match
// (weights, biases, BN parameters and running statistics) is copied into m, then the
// quantizers are re-derived from the loaded weights (layers.ReinitQuantizers: LSQ
// weight steps s = 2·mean|w|/√Q_P, LSQ input steps reset to initialise from the first
// batch). Tensors of m that the checkpoint lacks (quantizer parameters, usually) keep
// their values; it is an error when nothing matches.
func InitFrom(m *models.Model, ckptPath string) error {
	ck, err := LoadCheckpoint(ckptPath)
	if err != nil {
		return err
	}
	if _, err := ck.InitModel(m); err != nil {
		return fmt.Errorf("%s: %w", ckptPath, err)
	}
	return nil
}

// InitModel is InitFrom with a loaded checkpoint; it returns how many tensors it copied.
func (c *Checkpoint) InitModel(m *models.Model) (copied int, err error) {
	if copied, err = c.CopyMatching(m); err != nil {
		return 0, err
	}
	if err := layers.ReinitQuantizers(m.Net); err != nil {
		return copied, err
	}
	return copied, nil
}

// CopyMatching copies every checkpoint tensor whose name and size match one of m's
// into it, and nothing else; it is an error when nothing matches.
func (c *Checkpoint) CopyMatching(m *models.Model) (copied int, err error) {
	src := make(map[string][]float32, len(c.Tensors))
	for i, t := range c.Tensors {
		src[t.Name] = c.Data[i]
	}
	for _, t := range modelTensors(m) {
		d, ok := src[t.Name]
		if !ok || len(d) != len(t.Data) {
			continue
		}
		copy(t.Data, d)
		if t.Push != nil {
			t.Push()
		}
		copied++
	}
	if copied == 0 {
		return 0, fmt.Errorf("%w: no tensor matches model %s by name and size (checkpoint model %s)", ErrCheckpoint, m.Spec.Name, c.Model.Name)
	}
	return copied, nil
}
