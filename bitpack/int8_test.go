package bitpack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestGEMMU8S8(t *testing.T) {
	cases := []struct {
		m, n, k int
		extreme bool // all 255 × −128: the int32 sum wraps
	}{
		{1, 1, 1, false}, {3, 5, 7, false}, {4, 64, 64, false}, {5, 65, 130, false},
		{9, 130, 577, false}, {2, 3, 70000, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d", c.m, c.n, c.k), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.k), 1))
			a := make([]uint8, c.m*c.k)
			w := make([]int8, c.n*c.k)
			for i := range a {
				a[i] = uint8(rng.IntN(256))
				if c.extreme {
					a[i] = 255
				}
			}
			for i := range w {
				w[i] = int8(rng.IntN(256) - 128)
				if c.extreme {
					w[i] = -128
				}
			}
			want := make([]int32, c.m*c.n)
			for i := 0; i < c.m; i++ {
				for j := 0; j < c.n; j++ {
					var s int64
					for kk := 0; kk < c.k; kk++ {
						s += int64(a[i*c.k+kk]) * int64(w[j*c.k+kk])
					}
					want[i*c.n+j] = int32(s) // wrap mod 2^32, as VPDPBUSD
				}
			}
			am, err := PackU8(a, c.m, c.k)
			if err != nil {
				t.Fatal(err)
			}
			wp, err := PackS8Panels(w, c.n, c.k)
			if err != nil {
				t.Fatal(err)
			}
			for _, asm := range []bool{true, false} {
				if asm && (!cpuHasVNNI || !asmAllowed) {
					continue
				}
				restore := setAsm(asm)
				out := make([]int32, c.m*c.n)
				err := GEMMU8S8(out, am, wp)
				restore()
				if err != nil {
					t.Fatal(err)
				}
				for i := range out {
					if out[i] != want[i] {
						t.Fatalf("asm=%v: out[%d]=%d, want %d", asm, i, out[i], want[i])
					}
				}
			}
		})
	}
	if _, err := PackU8(make([]uint8, 3), 2, 2); !errors.Is(err, ErrShape) {
		t.Fatalf("PackU8: %v", err)
	}
	am, _ := PackU8(make([]uint8, 8), 1, 8)
	wp, _ := PackS8Panels(make([]int8, 8), 1, 8)
	if err := GEMMU8S8(nil, am, wp); !errors.Is(err, ErrShape) {
		t.Fatalf("short out: %v", err)
	}
}
