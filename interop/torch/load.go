package torch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lowbit/lowbit/models"
)

// ErrMismatch reports a state_dict whose tensors do not match the model's layout.
var ErrMismatch = errors.New("torch: state_dict does not match the model")

// Report says how a state_dict matched a model.
type Report struct {
	Loaded     int      // tensors copied into the model
	Missing    []string // in the layout, not in the file
	Unexpected []string // in the file, not in the layout (num_batches_tracked aside)
	Mismatched []string // in both, with another shape or a non-float dtype: "name: file [..] F32, model [..]"
}

// OK reports a perfect match.
func (r *Report) OK() bool { return len(r.Missing)+len(r.Unexpected)+len(r.Mismatched) == 0 }

func (r *Report) String() string {
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"missing", r.Missing}, {"unexpected", r.Unexpected}, {"mis-shaped", r.Mismatched}} {
		if len(p.names) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s: %s", len(p.names), p.what, strings.Join(p.names, ", ")))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d tensors loaded", r.Loaded)
	}
	return strings.Join(parts, "; ")
}

// Load copies sd into m through m's PyTorch layout. Strict, any missing, unexpected
// or mis-shaped tensor is an error that lists them all, and m is left unchanged;
// otherwise the matching tensors are copied and the rest is listed in the Report.
// Copying nothing is always an error.
func Load(m *models.Model, sd *StateDict, strict bool) (*Report, error) {
	es, err := entries(m)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	var ok []int
	want := map[string]bool{}
	for i, e := range es {
		want[e.name] = true
		t, found := sd.Tensors[e.name]
		switch {
		case !found:
			rep.Missing = append(rep.Missing, e.name)
		case t.Data == nil || !sameShape(t.Shape, e.shape):
			rep.Mismatched = append(rep.Mismatched, fmt.Sprintf("%s: file %v %s, model %v", e.name, t.Shape, t.DType, e.shape))
		default:
			ok = append(ok, i)
		}
	}
	for _, name := range sd.Names {
		if !want[name] && !isBatchCount(name) {
			rep.Unexpected = append(rep.Unexpected, name)
		}
	}
	if strict && !rep.OK() {
		return rep, fmt.Errorf("%w %s: %s", ErrMismatch, m.Spec.Name, rep)
	}
	if len(ok) == 0 {
		return rep, fmt.Errorf("%w %s: no tensor matches (%s)", ErrMismatch, m.Spec.Name, rep)
	}
	for _, i := range ok {
		es[i].perm.toLowbit(es[i].data, sd.Tensors[es[i].name].Data)
	}
	rep.Loaded = len(ok)
	return rep, nil
}

// LoadFile reads path (safetensors or torch.save zip) and loads it into m (see Load).
// Errors name the file.
func LoadFile(m *models.Model, path string, strict bool) (*Report, error) {
	sd, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	rep, err := Load(m, sd, strict)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

func sameShape(a, b []int) bool {
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

// Export returns m's float tensors as a PyTorch state_dict in its layout's names,
// order and shapes: the latent (unquantized) weights, biases, BatchNorm γ, β and
// running statistics, and each BatchNorm's num_batches_tracked set to batches (the
// training steps that updated the statistics). Quantizer parameters are not written.
func Export(m *models.Model, batches int64) (*StateDict, error) {
	es, err := entries(m)
	if err != nil {
		return nil, err
	}
	sd := newStateDict()
	bns := map[string]bool{}
	for _, e := range es {
		t := Tensor{DType: "F32", Shape: e.shape, Data: make([]float32, len(e.data))}
		e.perm.toTorch(t.Data, e.data)
		if err := sd.add(e.name, t); err != nil {
			return nil, fmt.Errorf("torch: %s: %w", m.Spec.Name, err)
		}
		if p, ok := strings.CutSuffix(e.name, ".running_var"); ok && !bns[p] {
			bns[p] = true
			if err := sd.add(p+".num_batches_tracked", Tensor{DType: "I64", Shape: []int{}, Int: []int64{batches}}); err != nil {
				return nil, fmt.Errorf("torch: %s: %w", m.Spec.Name, err)
			}
		}
	}
	return sd, nil
}
