package bitpack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// bothPaths runs f once with the assembly kernels (when the CPU has them)
// and once with the portable ones.
func bothPaths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, asm := range []bool{true, false} {
		name := "go"
		if asm {
			name = "asm"
			if !cpuHasPopcnt512 || !asmAllowed {
				continue
			}
		}
		t.Run(name, func(t *testing.T) {
			restore := setAsm(asm)
			defer restore()
			f(t)
		})
	}
}

func randSigns(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch rng.IntN(5) {
		case 0:
			x[i] = 0 // sign(0) = +1
		case 1, 2:
			x[i] = -rng.Float32() - 0.01
		default:
			x[i] = rng.Float32() + 0.01
		}
	}
	return x
}

func sgn(v float32) int32 {
	if v >= 0 {
		return 1
	}
	return -1
}

func naiveGEMM(a, w []float32, m, n, k int) []int32 {
	out := make([]int32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int32
			for kk := 0; kk < k; kk++ {
				s += sgn(a[i*k+kk]) * sgn(w[j*k+kk])
			}
			out[i*n+j] = s
		}
	}
	return out
}

func TestGEMM(t *testing.T) {
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 63}, {4, 32, 64}, {5, 33, 65}, {8, 64, 128},
		{7, 31, 200}, {13, 70, 577}, {4, 96, 1000},
		// Words a multiple of 3 (the portable kernel's carry-save steps),
		// odd rows and channel counts that are not a multiple of 4.
		{6, 8, 192}, {2, 4, 130}, {9, 13, 576}, {5, 6, 384}, {3, 66, 1152},
	}
	bothPaths(t, func(t *testing.T) {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(s.m), uint64(s.k)))
				af, wf := randSigns(rng, s.m*s.k), randSigns(rng, s.n*s.k)
				a, err := PackMatrix(af, s.m, s.k)
				if err != nil {
					t.Fatal(err)
				}
				wm, _ := PackMatrix(wf, s.n, s.k)
				w := PackPanels(wm)
				want := naiveGEMM(af, wf, s.m, s.n, s.k)
				for _, threads := range []int{1, 3} {
					out := make([]int32, s.m*s.n)
					if err := GEMMThreads(out, a, w, threads); err != nil {
						t.Fatal(err)
					}
					for i := range out {
						if out[i] != want[i] {
							t.Fatalf("threads=%d: out[%d,%d]=%d, want %d", threads, i/s.n, i%s.n, out[i], want[i])
						}
					}
				}
			})
		}
	})
}

func TestGEMMShapeErrors(t *testing.T) {
	a := NewMatrix(4, 100)
	w := PackPanels(NewMatrix(3, 100))
	w2 := PackPanels(NewMatrix(3, 120))
	cases := []struct {
		name string
		out  []int32
		w    *Panels
	}{
		{"short out", make([]int32, 11), w},
		{"K mismatch", make([]int32, 12), w2},
		{"nil", make([]int32, 12), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := GEMM(c.out, a, c.w); !errors.Is(err, ErrShape) {
				t.Fatalf("err = %v, want ErrShape", err)
			}
		})
	}
	if _, err := PackMatrix(make([]float32, 5), 2, 3); !errors.Is(err, ErrShape) {
		t.Fatalf("PackMatrix err = %v", err)
	}
}
