package models

import (
	"encoding/json"
	"testing"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// TestLarqCNNParamCount checks the tutorial's 93,790 values (Keras counts BN's moving
// statistics too): 93,322 trainable (binary kernels + BN β) plus 468 BN statistics.
func TestLarqCNNParamCount(t *testing.T) {
	m, err := New(Spec{Name: "larq-cnn", Weights: ste.Sign{}, Inputs: ste.Sign{}, Policy: SameWeights})
	if err != nil {
		t.Fatal(err)
	}
	var trainable, states int
	for _, p := range m.Params() {
		trainable += len(p.Data())
		if p.Kind == layers.Bias || p.Kind == layers.BNScale {
			t.Errorf("%s: the tutorial has no biases and no BN scale", p.Name)
		}
	}
	for _, s := range m.States() {
		states += len(s.Data)
	}
	if trainable != 93322 || states != 468 || trainable+states != 93790 {
		t.Errorf("trainable %d + BN statistics %d = %d, want 93322 + 468 = 93790", trainable, states, trainable+states)
	}
	// The first layer binarizes its kernel but not the image; the rest binarize both.
	var got []string
	layers.Walk(m.Net, func(l layers.Layer) {
		if q, ok := l.(layers.Quantized); ok {
			w, in := q.Quantizers()
			got = append(got, l.Name()+":"+ste.SpecOf(w)+"/"+ste.SpecOf(in))
		}
	})
	want := []string{"conv1:sign/fp", "conv4:sign/sign", "conv7:sign/sign", "dense10:sign/sign", "dense12:sign/sign"}
	if len(got) != len(want) {
		t.Fatalf("quantized layers %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("layer %d: %s, want %s", i, got[i], want[i])
		}
	}
}

func TestOverride(t *testing.T) {
	spec := Spec{Name: "lenet5", Override: map[string]LayerQuant{"conv5": {Weights: ste.LSQ{Bits: 2}}}}
	m, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	layers.Walk(m.Net, func(l layers.Layer) {
		q, ok := l.(layers.Quantized)
		if !ok {
			return
		}
		w, in := q.Quantizers()
		if in != nil {
			t.Errorf("%s: inputs %v, want fp", l.Name(), in)
		}
		if (l.Name() == "conv5") != (w != nil) {
			t.Errorf("%s: weights %v", l.Name(), w)
		}
	})
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != spec.String() || back.Override["conv5"].Weights == nil {
		t.Errorf("round trip: %s, want %s (json %s)", back.String(), spec.String(), b)
	}
}
