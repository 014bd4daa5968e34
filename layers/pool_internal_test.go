package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/internal/graphop"
	"gorgonia.org/tensor"
)

// TestPoolBackwardOverwrites: Backward's output buffer holds garbage
// (graphop reuses buffers), so every element must be written, the rows
// no window reads included: a NaN-filled buffer and a zeroed one give the
// same gradient, serial and in parallel chunks.
func TestPoolBackwardOverwrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		max          bool
		size, stride int
		shape        []int
	}{
		{true, 2, 2, []int{2, 5, 5, 3}},
		{true, 2, 3, []int{2, 8, 7, 3}},
		{true, 3, 2, []int{2, 7, 7, 3}},
		{false, 2, 3, []int{2, 8, 7, 3}},
		{true, 2, 2, []int{16, 33, 32, 8}},
		{true, 2, 3, []int{16, 35, 34, 8}},
		{false, 2, 2, []int{16, 33, 32, 8}},
	} {
		t.Run(fmt.Sprintf("max%v_%d_s%d_%v", c.max, c.size, c.stride, c.shape), func(t *testing.T) {
			l := AvgPool("p", PoolConfig{Size: c.size, Stride: c.stride})
			if c.max {
				l = MaxPool("p", PoolConfig{Size: c.size, Stride: c.stride})
			}
			k := &poolKernel{layer: l}
			in := tensor.Shape(c.shape)
			os, err := k.OutShape([]tensor.Shape{in})
			if err != nil {
				t.Fatal(err)
			}
			x := graphop.Tensor{Data: make([]float32, in.TotalSize()), Shape: in}
			for i := range x.Data {
				x.Data[i] = float32(rng.IntN(5))
			}
			y := graphop.Tensor{Data: make([]float32, os.TotalSize()), Shape: os}
			if err := k.Forward(y, []graphop.Tensor{x}); err != nil {
				t.Fatal(err)
			}
			g := graphop.Tensor{Data: make([]float32, os.TotalSize()), Shape: os}
			for i := range g.Data {
				g.Data[i] = float32(rng.NormFloat64())
			}
			var want []float32
			for _, fill := range []float32{0, float32(math.NaN())} {
				d := graphop.Tensor{Data: make([]float32, in.TotalSize()), Shape: in}
				for i := range d.Data {
					d.Data[i] = fill
				}
				if err := k.Backward(0, d, []graphop.Tensor{x}, y, g); err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = d.Data
					continue
				}
				for i := range want {
					if math.Float32bits(d.Data[i]) != math.Float32bits(want[i]) {
						t.Fatalf("dx[%d] = %v over a NaN buffer, %v over a zeroed one", i, d.Data[i], want[i])
					}
				}
			}
		})
	}
}
