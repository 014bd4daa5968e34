package datasets

import "testing"

func TestParseScalingRoundTrip(t *testing.T) {
	for _, sc := range []Scaling{Standardize, Unit, Symmetric} {
		got, err := ParseScaling(sc.String())
		if err != nil || got != sc {
			t.Errorf("ParseScaling(%q) = %v, %v", sc.String(), got, err)
		}
	}
	if got, err := ParseScaling(""); err != nil || got != Standardize {
		t.Errorf(`ParseScaling("") = %v, %v; want Standardize`, got, err)
	}
	if _, err := ParseScaling("log"); err == nil {
		t.Error(`ParseScaling("log"): no error`)
	}
}
