package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSignOne: signOne is −1 exactly where x < 0, on special values and
// on random bit patterns (every class of float32).
func TestSignOne(t *testing.T) {
	want := func(x float32) float32 {
		if x < 0 {
			return -1
		}
		return 1
	}
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), -float32(math.NaN()), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32}
	for _, b := range []uint32{0x80000001, 0xff7fffff, 0xff800000, 0xff800001, 0xffffffff, 0x7f800001, 0x00000001} {
		xs = append(xs, math.Float32frombits(b)) // the edges of the negative range
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 16 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for _, x := range xs {
		if got := signOne(x); math.Float32bits(got) != math.Float32bits(want(x)) {
			t.Fatalf("signOne(%v [%#x]) = %v, want %v", x, math.Float32bits(x), got, want(x))
		}
	}
}
