package datasets

import (
	"slices"
	"testing"
)

func TestInputNorm(t *testing.T) {
	cases := []struct {
		name      string
		sc        Scaling
		c         int
		mean, std []float32
	}{
		{"mnist", Standardize, 1, []float32{MNISTMean}, []float32{MNISTStd}},
		{"", Standardize, 1, []float32{MNISTMean}, []float32{MNISTStd}},
		{"fashion-mnist", Standardize, 1, []float32{FashionMean}, []float32{FashionStd}},
		{"cifar10", Standardize, 3, cifarMean[:], cifarStd[:]},
		{"imagefolder", Standardize, 3, imageNetMean[:], imageNetStd[:]},
		{"mnist", Unit, 1, []float32{0}, []float32{1}},
		{"cifar10", Symmetric, 3, []float32{0.5, 0.5, 0.5}, []float32{0.5, 0.5, 0.5}},
		{"mnist", Standardize, 4, nil, nil},
		{"mnist", Standardize, 0, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/"+tc.sc.String(), func(t *testing.T) {
			m, s := InputNorm(tc.name, tc.sc, tc.c)
			if !slices.Equal(m, tc.mean) || !slices.Equal(s, tc.std) {
				t.Fatalf("InputNorm = %v, %v; want %v, %v", m, s, tc.mean, tc.std)
			}
		})
	}
}

func TestClassNames(t *testing.T) {
	cases := []struct {
		name        string
		n           int
		first, last string
	}{
		{"mnist", 10, "0", "9"},
		{"fashion-mnist", 10, "T-shirt/top", "Ankle boot"},
		{"cifar10", 10, "airplane", "truck"},
		{"cifar100", 100, "apple", "worm"},
		{"imagefolder", 0, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassNames(tc.name)
			if len(got) != tc.n {
				t.Fatalf("%d names, want %d", len(got), tc.n)
			}
			if tc.n > 0 && (got[0] != tc.first || got[tc.n-1] != tc.last) {
				t.Fatalf("names %q…%q, want %q…%q", got[0], got[tc.n-1], tc.first, tc.last)
			}
		})
	}
}
