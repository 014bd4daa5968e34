package bitpack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestMaxPool(t *testing.T) {
	cases := []struct{ n, h, w, c, k, stride, pad int }{
		{1, 4, 4, 3, 2, 2, 0}, {2, 7, 5, 70, 3, 2, 1}, {1, 6, 6, 128, 3, 1, 1}, {1, 5, 5, 64, 2, 1, 0},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("case%d", i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			x := randSigns(rng, c.n*c.h*c.w*c.c)
			in, _ := PackNHWC(x, c.n, c.h, c.w, c.c)
			oh, ow := (c.h+2*c.pad-c.k)/c.stride+1, (c.w+2*c.pad-c.k)/c.stride+1
			out := NewMap(c.n, oh, ow, c.c)
			if err := MaxPool(out, in, c.k, c.k, c.stride, c.pad); err != nil {
				t.Fatal(err)
			}
			for n := 0; n < c.n; n++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						for ch := 0; ch < c.c; ch++ {
							m := float32(-2)
							for ky := 0; ky < c.k; ky++ {
								for kx := 0; kx < c.k; kx++ {
									iy, ix := y*c.stride-c.pad+ky, xx*c.stride-c.pad+kx
									if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
										m = max(m, float32(sgn(x[((n*c.h+iy)*c.w+ix)*c.c+ch])))
									}
								}
							}
							if got := out.At(n, y, xx, ch); float32(got) != m {
								t.Fatalf("(%d,%d,%d,%d)=%d, want %g", n, y, xx, ch, got, m)
							}
						}
						for b := c.c; b < out.Words*64; b++ {
							if out.Data[((n*oh+y)*ow+xx)*out.Words+b/64]>>(uint(b)%64)&1 != 0 {
								t.Fatal("padding bit set")
							}
						}
					}
				}
			}
		})
	}
	in := NewMap(1, 4, 4, 8)
	if err := MaxPool(NewMap(1, 3, 3, 8), in, 2, 2, 2, 0); !errors.Is(err, ErrShape) {
		t.Fatalf("wrong output shape: %v", err)
	}
}
