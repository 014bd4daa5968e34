package models

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lowbit/lowbit/ste"
)

// LayerQuant is the pair of quantizers one layer gets through Spec.Override.
// Nil means full precision, so an override replaces both of the layer's
// quantizers, whatever the Spec and its Policy would give it.
type LayerQuant struct {
	Weights ste.Quantizer
	Inputs  ste.Quantizer
}

// MarshalJSON writes the quantizers by their spec strings ("fp" for nil).
func (q LayerQuant) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		W string `json:"weights"`
		I string `json:"inputs"`
	}{ste.SpecOf(q.Weights), ste.SpecOf(q.Inputs)})
}

// UnmarshalJSON parses the spec strings back.
func (q *LayerQuant) UnmarshalJSON(b []byte) error {
	var v struct {
		W string `json:"weights"`
		I string `json:"inputs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var err error
	if q.Weights, err = ste.Parse(v.W); err != nil {
		return fmt.Errorf("models: override weights: %w", err)
	}
	if q.Inputs, err = ste.Parse(v.I); err != nil {
		return fmt.Errorf("models: override inputs: %w", err)
	}
	return nil
}

// layerQuantizers returns the quantizers of the layer called name at position p:
// the Spec's override for that layer if there is one, else the Policy's choice.
func (b *Build) layerQuantizers(p Position, name string) (w, in ste.Quantizer) {
	if o, ok := b.spec.Override[name]; ok {
		return o.Weights, o.Inputs
	}
	return b.quantizers(p)
}

// overrideString lists the overrides for Spec.String, e.g. " override=conv1:w=lsq(bits=2),a=fp".
func overrideString(o map[string]LayerQuant) string {
	if len(o) == 0 {
		return ""
	}
	names := make([]string, 0, len(o))
	for n := range o {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s:w=%s,a=%s", n, ste.SpecOf(o[n].Weights), ste.SpecOf(o[n].Inputs))
	}
	return " override=" + strings.Join(parts, ";")
}
