package ste_test

import (
	"testing"

	"github.com/lowbit/lowbit/ste"
)

func TestXNOR(t *testing.T) {
	// Row 0: α = (0.5+1.5+0)/3 = 2/3; row 1: α = (0.2+0.4+0.9)/3 = 0.5.
	x := []float32{0.5, -1.5, 0, -0.2, 0.4, 0.9}
	y := []float32{2. / 3, -2. / 3, 2. / 3, -0.5, 0.5, 0.5}
	g := []float32{1, 2, 3, 4, 5, 6}
	tests := []gradCase{
		// g·α·1{|W| ≤ 1}
		{name: "stop-grad", q: ste.XNOR{}, wantDX: []float32{2. / 3, 0, 2, 2, 2.5, 3}},
		// g·(1/n + α·1{|W| ≤ 1}), n = 3
		{name: "grad alpha", q: ste.XNOR{GradAlpha: true}, wantDX: []float32{1, 2. / 3, 3, 4 * (0.5 + 1./3), 5 * (0.5 + 1./3), 6 * (0.5 + 1./3)}},
	}
	for _, tc := range tests {
		for _, role := range []ste.Role{ste.Weights, ste.Inputs} {
			t.Run(tc.name+"/"+role.String(), func(t *testing.T) {
				tc.role, tc.shape, tc.x, tc.wantY, tc.g = role, []int{2, 3}, x, y, g
				tc.run(t)
			})
		}
	}
	t.Run("conv layout", func(t *testing.T) {
		// OHWI [2,1,2,1]: α is taken over each output channel's 2 weights.
		tc := gradCase{q: ste.XNOR{}, role: ste.Weights, shape: []int{2, 1, 2, 1},
			x: []float32{3, -1, 0.25, 0.75}, wantY: []float32{2, -2, 0.5, 0.5},
			g: []float32{1, 1, 1, 1}, wantDX: []float32{0, 2, 0.5, 0.5}}
		tc.run(t)
	})
}
