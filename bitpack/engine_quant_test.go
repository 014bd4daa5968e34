package bitpack

import (
	"encoding/json"
	"testing"

	"github.com/lowbit/lowbit/internal/qfunc"
)

// Model files written before the descriptor name one kind per training
// quantizer; they must still load as the same function.
func TestInputQuantLegacyJSON(t *testing.T) {
	cases := []struct {
		in   string
		want InputQuant
	}{
		{`{"kind":"sign"}`, InputQuant{Kind: QuantSign}},
		{`{"kind":"uniform","levels":3}`, InputQuant(qfunc.Levels(3))},
		{`{"kind":"lsq","step":0.11,"qn":8,"qp":7}`, InputQuant(qfunc.Step(0.11, -8, 7))},
		{`{"kind":"lsq","step":0.5,"qp":15}`, InputQuant(qfunc.Step(0.5, 0, 15))},
		{`{"kind":"pact","alpha":2.5,"levels":15}`, InputQuant(qfunc.Clipped(2.5, 15))},
		{`{"kind":"linear","mul":4,"hi":4,"num":1,"den":4}`, InputQuant(qfunc.Levels(4))},
	}
	for _, c := range cases {
		var got InputQuant
		if err := json.Unmarshal([]byte(c.in), &got); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", c.in, err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back InputQuant
		if err := json.Unmarshal(b, &back); err != nil || back != got {
			t.Errorf("%s: round trip %s gives %+v, %v", c.in, b, back, err)
		}
	}
	for _, bad := range []string{`{"kind":"lsq","qp":7}`, `{"kind":"pact","levels":3}`} {
		var q InputQuant
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
