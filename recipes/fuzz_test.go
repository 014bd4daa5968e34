package recipes

import (
	"testing"

	"github.com/lowbit/lowbit/models"
)

// fuzzDecoded decodes checkpoint bytes and, when they hold a small model,
// builds it and loads the tensors: any error is fine, a panic or an
// inconsistent result is not.
func fuzzDecoded(t *testing.T, b []byte) {
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return
	}
	if len(c.Data) != len(c.Tensors) {
		t.Fatalf("decoded %d tensors for %d entries", len(c.Data), len(c.Tensors))
	}
	if !smallSpec(c) {
		return
	}
	m, err := c.Restore()
	if err != nil {
		return
	}
	if len(modelTensors(m)) != len(c.Tensors) {
		t.Fatalf("restored model has %d tensors, checkpoint %d", len(modelTensors(m)), len(c.Tensors))
	}
	again, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCheckpoint(again); err != nil {
		t.Fatalf("re-encoded checkpoint does not decode: %v", err)
	}
}

// smallSpec keeps fuzzing fast: it builds only models whose size the
// header bounds to a few thousand parameters (the limits themselves are
// tested in models).
func smallSpec(c *Checkpoint) bool {
	s := c.Model
	in := 1
	for _, d := range s.Input {
		in *= max(d, 1)
		if d > 64 {
			return false
		}
	}
	if s.Name != "mlp" || len(s.Input) != 3 || in > 256 || s.Classes > 16 || len(s.Hidden) > 3 {
		return false
	}
	for _, h := range s.Hidden {
		if h > 32 {
			return false
		}
	}
	return len(s.Hidden) > 0
}

// FuzzCheckpointHeader fuzzes the JSON header and the payload behind a
// valid envelope (magic, version, lengths and CRC computed here), so every
// input reaches the header parser, the tensor table and the model build.
func FuzzCheckpointHeader(f *testing.F) {
	m, err := testSmallModel()
	if err != nil {
		f.Fatal(err)
	}
	c := &Checkpoint{Model: m.Spec, Dataset: "mnist", Optimizer: "adam", OptBytes: []byte("st")}
	c.snapshot(m)
	b, err := c.Encode()
	if err != nil {
		f.Fatal(err)
	}
	hdr, payload, err := ckptFormat.Decode(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(hdr), payload)
	f.Add(`{"model":{"model":"mlp","input":[2,2,1],"hidden":[1e6]},"tensors":[{"name":"x","shape":[-1]}]}`, []byte{})
	f.Fuzz(func(t *testing.T, hdr string, payload []byte) {
		fuzzDecoded(t, ckptFormat.Encode([]byte(hdr), payload))
	})
}

func testSmallModel() (*models.Model, error) {
	return models.New(models.Spec{Name: "mlp", Input: []int{4, 4, 1}, Hidden: []int{4}, Classes: 3, Seed: 1})
}
