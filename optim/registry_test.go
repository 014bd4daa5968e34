package optim

import (
	"errors"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name, want string
		cfg        Config
	}{
		{"sgd", "sgd(momentum=0,wd=0)", Config{}},
		{"sgd", "sgd(momentum=0.9,nesterov,wd=0.0005)", Config{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}},
		{"sgd", "sgd(momentum=0.9,dampening=0.1,wd=0,decayall)", Config{Momentum: 0.9, Dampening: 0.1, DecayAll: true}},
		{"adam", "adam(beta1=0.9,beta2=0.999,eps=1e-08,wd=0)", Config{}},
		{"adam", "adam(beta1=0.9,beta2=0.999,eps=1e-05,wd=5e-06)", Config{Eps: 1e-5, WeightDecay: 5e-6}},
		{"adamw", "adamw(beta1=0.9,beta2=0.999,eps=1e-08,wd=0.01)", Config{WeightDecay: 0.01}},
		{"bop", "bop(gamma=0.0001,threshold=1e-08,inner=adam(beta1=0.9,beta2=0.999,eps=1e-08,wd=0))", Config{}},
		{"bop", "bop(gamma=0.001,threshold=1e-07,inner=sgd(momentum=0.9,wd=0))", Config{Gamma: 1e-3, Threshold: 1e-7, Inner: &SGD{Momentum: 0.9}}},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			o, err := New(tc.name, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if o.Name() != tc.name || o.String() != tc.want {
				t.Errorf("Name, String = %q, %q", o.Name(), o.String())
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New("lamb", Config{})
	if !errors.Is(err, ErrUnknown) {
		t.Fatalf("err = %v, want ErrUnknown", err)
	}
	for _, n := range []string{"adam", "adamw", "bop", "sgd"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %q", err, n)
		}
	}
	if _, err := New("sgd", Config{Nesterov: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("nesterov without momentum: err = %v, want ErrConfig", err)
	}
	if _, err := New("adam", Config{Beta2: 1}); !errors.Is(err, ErrConfig) {
		t.Errorf("beta2 = 1: err = %v, want ErrConfig", err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Weight: "weight", QuantParam: "quantparam", Other: "other", 42: "kind(42)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", int(k), k.String(), want)
		}
	}
}
