package ste_test

import (
	"testing"

	"github.com/lowbit/lowbit/ste"
)

func TestUniform(t *testing.T) {
	g := []float32{1, -2, 3, -4, 5, -6, 7}
	tests := []gradCase{
		// k = 1: round(clip(x,0,1)); 0.5 rounds half to even, to 0.
		{name: "1 bit", q: ste.Uniform{Bits: 1},
			x:     []float32{-1, 0, 0.49, 0.5, 0.51, 1, 2},
			wantY: []float32{0, 0, 0, 0, 1, 1, 1}},
		// k = 2: round(3·clip(x,0,1))/3; 3·0.5 = 1.5 rounds to 2.
		{name: "2 bits", q: ste.Uniform{Bits: 2},
			x:     []float32{-0.5, 0, 0.25, 0.5, 0.75, 1, 1.5},
			wantY: []float32{0, 0, 1. / 3, 2. / 3, 2. / 3, 1, 1}},
		// k = 0 means 8 bits: 255 levels.
		{name: "default 8 bits", q: ste.Uniform{},
			x:     []float32{-0.5, 0, 0.1, 0.5, 1. / 255, 1, 1.5},
			wantY: []float32{0, 0, 26. / 255, 128. / 255, 1. / 255, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Identity STE: the gradient passes everywhere, also outside [0,1].
			tc.role, tc.shape, tc.g, tc.wantDX = ste.Inputs, []int{1, 7}, g, g
			tc.run(t)
		})
	}
}
