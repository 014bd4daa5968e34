package recipes

import (
	"fmt"
	"io"
	"os"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/models"
)

// InitFrom initialises m from the file at path, as LSQ does from a trained
// full-precision model (Esser et al. 2020): the file is a lowbit checkpoint or a
// PyTorch state_dict (.safetensors or torch.save zip; interop/torch maps the names
// and layouts), told apart by content. The tensors are copied into m, then the
// quantizers are re-derived from the loaded weights (layers.ReinitQuantizers: LSQ
// weight steps s = 2·mean|w|/√Q_P, LSQ input steps reset to initialise from the
// first batch). Tensors of m that the file lacks (quantizer parameters, usually) keep
// their values.
//
// From a checkpoint, every tensor whose name and size match is copied; it is an
// error when nothing matches. From a PyTorch file, any missing, unexpected or
// mis-shaped tensor is an error that lists them (see InitFromWith to go on).
func InitFrom(m *models.Model, path string) error { return InitFromWith(m, path, InitOptions{}) }

// InitOptions tunes InitFromWith for PyTorch files.
type InitOptions struct {
	// Lenient loads the matching tensors of a PyTorch file even when others are
	// missing, unexpected or mis-shaped, and passes their list to Warn.
	Lenient bool
	Warn    func(msg string)
}

// InitFromWith is InitFrom with options.
func InitFromWith(m *models.Model, path string, opt InitOptions) error {
	if !isCheckpoint(path) {
		rep, err := torch.LoadFile(m, path, !opt.Lenient)
		if err != nil {
			return err
		}
		if !rep.OK() && opt.Warn != nil {
			opt.Warn(fmt.Sprintf("%s: loaded %d tensors into %s; not loaded: %s", path, rep.Loaded, m.Spec.Name, rep))
		}
		return layers.ReinitQuantizers(m.Net)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return err
	}
	if _, err := ck.InitModel(m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// isCheckpoint reports whether path starts with the checkpoint magic.
func isCheckpoint(path string) bool {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return true // let LoadCheckpoint report it (opening a FIFO would block)
	}
	f, err := os.Open(path)
	if err != nil {
		return true // let LoadCheckpoint report it
	}
	defer f.Close()
	head := make([]byte, len(ckptFormat.Magic))
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == ckptFormat.Magic
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

// ImportCheckpoint makes a float checkpoint of model spec s for dataset from a
// PyTorch state_dict at path (.safetensors or a torch.save zip, strict: every
// tensor must match), without training: post-training quantization starts
// from it as from a trained lowbit checkpoint. The data's input
// normalisation (standardised, training's default) and class names are
// recorded as training records them.
func ImportCheckpoint(path string, s models.Spec, dataset string) (*Checkpoint, error) {
	if isCheckpoint(path) {
		return nil, fmt.Errorf("recipes: %s is a lowbit checkpoint, not a PyTorch file: give it without a model", path)
	}
	m, err := models.New(s)
	if err != nil {
		return nil, err
	}
	if _, err := torch.LoadFile(m, path, true); err != nil {
		return nil, err
	}
	ck := &Checkpoint{Model: m.Spec, Dataset: dataset, Config: RunConfig{Scaling: datasets.Standardize.String(), Seed: s.Seed}}
	fitInputMeta(&ck.Model, dataset, datasets.Standardize)
	ck.Snapshot(m)
	return ck, nil
}
