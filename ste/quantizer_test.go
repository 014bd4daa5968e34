package ste_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec string
		want ste.Quantizer // nil: full precision
	}{
		{"lsq:bits=4,signed", ste.LSQ{Bits: 4, Signed: true}},
		{"lsq(bits=4,signed)", ste.LSQ{Bits: 4, Signed: true}},
		{"lsq(bits=3, signed=false)", ste.LSQ{Bits: 3}},
		{"lsq", ste.LSQ{Bits: 4}},
		{"  sign  ", ste.Sign{Clip: 1}},
		{"sign:clip=-1", ste.Sign{Clip: -1}},
		{"approxsign", ste.ApproxSign{}},
		{"xnor", ste.XNOR{}},
		{"xnor:alpha=grad", ste.XNOR{GradAlpha: true}},
		{"uniform:bits=2", ste.Uniform{Bits: 2}},
		{"dorefa", ste.DoReFa{}},
		{"dorefa(bits=2)", ste.DoReFa{Bits: 2}},
		{"fp", nil},
		{"fp32", nil},
		{"none", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			q, err := ste.Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if q != tc.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tc.spec, q, tc.want)
			}
			if q == nil {
				return
			}
			// String round-trips through Parse.
			again, err := ste.Parse(q.String())
			if err != nil || again != q {
				t.Errorf("Parse(%q) = %#v, %v; want %#v", q.String(), again, err, q)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec    string
		is      error
		mention []string
	}{
		{"nosuch", ste.ErrUnknown, append([]string{"nosuch", "fp"}, ste.Names()...)},
		{"nosuch:bits=2", ste.ErrUnknown, []string{"nosuch"}},
		{"lsq:bitz=4", ste.ErrParam, []string{"bitz", "bits", "signed"}},
		{"approxsign:clip=2", ste.ErrParam, []string{"clip", "no parameters"}},
		{"lsq:bits=four", ste.ErrParam, []string{"four", "integer"}},
		{"lsq:bits=2.5", ste.ErrParam, []string{"2.5"}},
		{"lsq:bits=0", ste.ErrParam, []string{"bits=0", "range"}},
		{"lsq:bits=17", ste.ErrParam, []string{"bits=17"}},
		{"uniform:bits=-1", ste.ErrParam, []string{"bits=-1"}},
		{"dorefa:bits=33", ste.ErrParam, []string{"bits=33"}},
		{"lsq:signed=maybe", ste.ErrParam, []string{"maybe"}},
		{"sign:clip=nan", ste.ErrParam, []string{"nan"}},
		{"xnor:alpha=sometimes", ste.ErrParam, []string{"sometimes"}},
		{"lsq(bits=4", ste.ErrParam, []string{")"}},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			q, err := ste.Parse(tc.spec)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tc.spec, q)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	names := ste.Names()
	for _, want := range []string{"approxsign", "dorefa", "lsq", "sign", "uniform", "xnor"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names() = %v lacks %q", names, want)
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("Names() not sorted: %v", names)
		}
	}
	for _, n := range names {
		if ste.Doc(n) == "" {
			t.Errorf("%s has no doc line", n)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a duplicate name did not panic")
		}
	}()
	ste.Register(ste.Sign{}, "duplicate")
}

func TestBitsFor(t *testing.T) {
	tests := []struct {
		q              ste.Quantizer
		weights, input int
	}{
		{nil, 32, 32},
		{ste.Sign{}, 1, 1},
		{ste.DoReFa{}, 1, 2},
		{ste.DoReFa{Bits: 4}, 4, 4},
		{ste.LSQ{}, 4, 4},
		{ste.Uniform{}, 8, 8},
	}
	for _, tc := range tests {
		name := "fp"
		if tc.q != nil {
			name = tc.q.String()
		}
		t.Run(name, func(t *testing.T) {
			if w, i := ste.BitsFor(tc.q, ste.Weights), ste.BitsFor(tc.q, ste.Inputs); w != tc.weights || i != tc.input {
				t.Errorf("BitsFor = %d (weights), %d (inputs); want %d, %d", w, i, tc.weights, tc.input)
			}
		})
	}
}

// TestParseOldSpecs: checkpoints store the spec strings String wrote before the
// schema; each must still parse to the same quantizer.
func TestParseOldSpecs(t *testing.T) {
	tests := []struct {
		spec string
		want ste.Quantizer
	}{
		{"sign", ste.Sign{Clip: 1}},
		{"sign(clip=-1)", ste.Sign{Clip: -1}},
		{"approxsign", ste.ApproxSign{}},
		{"xnor(alpha=grad)", ste.XNOR{GradAlpha: true}},
		{"uniform(bits=8)", ste.Uniform{Bits: 8}},
		{"dorefa", ste.DoReFa{}},
		{"dorefa(bits=4)", ste.DoReFa{Bits: 4}},
		{"lsq(bits=4,signed)", ste.LSQ{Bits: 4, Signed: true}},
		{"twn(perchannel,clip=1)", ste.TWN{PerChannel: true, Clip: 1}},
		{"ttq(threshold=0.05,init=mean)", ste.TTQ{Threshold: 0.05, InitMean: true}},
		{"pact(bits=4,alpha=10,decay=0.0001)", ste.PACT{Bits: 4, Alpha: 10, Decay: 1e-4}},
		{"pact(bits=2,alpha=10,decay=0)", ste.PACT{Bits: 2, Alpha: 10}},
		{"kmeans(bits=3)", ste.KMeans{Bits: 3}},
		{"scaled(bits=4,method=max)", ste.Scaled{Bits: 4}},
		{"scaled(bits=4,method=percentile,signed,pct=99.9,perchannel)",
			ste.Scaled{Bits: 4, Method: ste.ScalePercentile, Signed: true, Percentile: 99.9, PerChannel: true}},
		{"dorefagrad(bits=6,seed=12)", ste.DoReFaGrad{Bits: 6, Seed: 12}},
	}
	for _, tc := range tests {
		q, err := ste.Parse(tc.spec)
		if err != nil || q != tc.want {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tc.spec, q, err, tc.want)
			continue
		}
		if back, err := ste.Parse(q.String()); err != nil || back != q {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", q.String(), back, err, q)
		}
	}
}
