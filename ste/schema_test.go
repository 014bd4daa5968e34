package ste_test

import (
	"strings"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

// Quantizers with broken schemas, for TestSchemaRegisterPanics.
type (
	badOption struct {
		A int `q:"a,often"`
	}
	badDefault struct {
		A int `q:"a,default=x"`
	}
	badKind struct {
		A string `q:"a"`
	}
	badIf struct {
		A int `q:"a,if=b=c"`
	}
)

func (badOption) Name() string                        { return "bad-option" }
func (badDefault) Name() string                       { return "bad-default" }
func (badKind) Name() string                          { return "bad-kind" }
func (badIf) Name() string                            { return "bad-if" }
func (q badOption) String() string                    { return ste.Format(q) }
func (q badDefault) String() string                   { return ste.Format(q) }
func (q badKind) String() string                      { return ste.Format(q) }
func (q badIf) String() string                        { return ste.Format(q) }
func (badOption) BitsFor(ste.Role) int                { return 1 }
func (badDefault) BitsFor(ste.Role) int               { return 1 }
func (badKind) BitsFor(ste.Role) int                  { return 1 }
func (badIf) BitsFor(ste.Role) int                    { return 1 }
func (badOption) Symmetric() bool                     { return false }
func (badDefault) Symmetric() bool                    { return false }
func (badKind) Symmetric() bool                       { return false }
func (badIf) Symmetric() bool                         { return false }
func (badOption) DataInit() bool                      { return false }
func (badDefault) DataInit() bool                     { return false }
func (badKind) DataInit() bool                        { return false }
func (badIf) DataInit() bool                          { return false }
func (badOption) Build(ste.Target) (ste.Func, error)  { return nil, nil }
func (badDefault) Build(ste.Target) (ste.Func, error) { return nil, nil }
func (badKind) Build(ste.Target) (ste.Func, error)    { return nil, nil }
func (badIf) Build(ste.Target) (ste.Func, error)      { return nil, nil }

// TestSchemaRegisterPanics: a broken `q` tag is caught when the quantizer
// registers (init time), naming the fault.
func TestSchemaRegisterPanics(t *testing.T) {
	tests := []struct {
		q       ste.Quantizer
		mention string
	}{
		{badOption{}, "often"},
		{badDefault{}, "default"},
		{badKind{}, "string"},
		{badIf{}, "if="},
	}
	for _, tc := range tests {
		t.Run(tc.q.Name(), func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tc.mention) {
					t.Errorf("Register panicked with %v, want a message naming %q", r, tc.mention)
				}
			}()
			ste.Register(tc.q, "broken")
		})
	}
}

// TestResolve: zero fields take their defaults (except those marked zero) and
// the ranges are checked.
func TestResolve(t *testing.T) {
	if q, err := ste.Resolve(ste.LSQ{}); err != nil || q != (ste.LSQ{Bits: 4}) {
		t.Errorf("Resolve(LSQ{}) = %#v, %v", q, err)
	}
	if q, err := ste.Resolve(ste.PACT{}); err != nil || q != (ste.PACT{Bits: 4, Alpha: 10}) {
		t.Errorf("Resolve(PACT{}) = %#v, %v; want no decay (zero is a value of its own)", q, err)
	}
	for _, q := range []ste.Quantizer{ste.LSQ{Bits: 17}, ste.LSQ{Bits: 1, Signed: true}, ste.TTQ{Threshold: 1}, ste.TWN{Clip: -1}} {
		if _, err := q.Build(ste.Target{Shape: []int{1, 1}, Role: ste.Inputs}); err == nil {
			t.Errorf("%#v: Build gave no error", q)
		}
	}
}
