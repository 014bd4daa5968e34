package ste

import "testing"

// FuzzParse: any spec string either fails with an error or gives a
// quantizer whose String() parses back to the same quantizer.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "fp", "sign", "approxsign", "xnor:alpha=grad", "uniform:bits=2", "dorefa:bits=1",
		"lsq:bits=4,signed", "lsq(bits=8)", "twn:perchannel", "ttq:threshold=0.05", "pact:bits=4", "kmeans:bits=2",
		"scaled:bits=4,method=percentile", "dorefagrad:bits=8", "lsq:bits=99", "pact:bits=4,alpha=NaN", "lsq(bits=4"} {
		f.Add(s)
	}
	for _, n := range Names() {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		q, err := Parse(spec)
		if err != nil || q == nil {
			return
		}
		s := SpecOf(q)
		q2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) gives %q, which does not parse: %v", spec, s, err)
		}
		if s2 := SpecOf(q2); s2 != s {
			t.Fatalf("Parse(%q) gives %q, which parses to %q", spec, s, s2)
		}
	})
}
