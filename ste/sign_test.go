package ste_test

import (
	"math"
	"testing"

	"github.com/lowbit/lowbit/ste"
)

func TestSign(t *testing.T) {
	// sign(0) = +1, also for −0; the clipped STE passes g where |x| ≤ clip.
	x := []float32{-2, -1, -0.5, float32(math.Copysign(0, -1)), 0, 0.3, 1, 1.0001, 3}
	y := []float32{-1, -1, -1, 1, 1, 1, 1, 1, 1}
	g := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	tests := []gradCase{
		{name: "clip 1 (default)", q: ste.Sign{}, wantDX: []float32{0, 2, 3, 4, 5, 6, 7, 0, 0}},
		{name: "clip 1", q: ste.Sign{Clip: 1}, wantDX: []float32{0, 2, 3, 4, 5, 6, 7, 0, 0}},
		{name: "clip 2", q: ste.Sign{Clip: 2}, wantDX: []float32{1, 2, 3, 4, 5, 6, 7, 8, 0}},
		{name: "identity", q: ste.Sign{Clip: -1}, wantDX: g},
		// (2 − 2|x|)·1{|x| ≤ 1}
		{name: "approxsign", q: ste.ApproxSign{}, wantDX: []float32{0, 0, 3, 8, 10, 1.4 * 6, 0, 0, 0}},
	}
	for _, tc := range tests {
		for _, role := range []ste.Role{ste.Weights, ste.Inputs} {
			t.Run(tc.name+"/"+role.String(), func(t *testing.T) {
				tc.role, tc.shape, tc.x, tc.wantY, tc.g = role, []int{3, 3}, x, y, g
				tc.run(t)
			})
		}
	}
}
