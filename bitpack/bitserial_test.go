package bitpack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func level(q uint8, nbits int, code Code) int32 {
	switch code {
	case Binary:
		return 1 - 2*int32(q)
	case Offset:
		return 2*int32(q) - (1<<nbits - 1)
	}
	return int32(q)
}

func TestBitSerialGEMM(t *testing.T) {
	type tc struct {
		m, n, k, xb, wb int
		code            Code
	}
	var cases []tc
	for _, s := range []struct{ m, n, k int }{{1, 1, 1}, {3, 33, 65}, {2, 32, 64}, {5, 70, 577}, {6, 64, 200}} {
		cases = append(cases,
			tc{s.m, s.n, s.k, 2, 1, Binary},   // W1A2
			tc{s.m, s.n, s.k, 2, 2, Offset},   // W2A2 DoReFa
			tc{s.m, s.n, s.k, 2, 2, Unsigned}, // W2A2 unsigned
			tc{s.m, s.n, s.k, 1, 2, Offset},   // W2A1
			tc{s.m, s.n, s.k, 1, 1, Unsigned}, // W1A1 {0,1}
			tc{s.m, s.n, s.k, 2, 1, Unsigned}, // W1A2 {0,1} weights
			tc{s.m, s.n, s.k, 1, 1, Binary},   // binary weights, {0,1} inputs
		)
	}
	bothPaths(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%dx%dx%d/a%dw%d/code%d", c.m, c.n, c.k, c.xb, c.wb, c.code), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(c.k), uint64(c.n)))
				qx := make([]uint8, c.m*c.k)
				qw := make([]uint8, c.n*c.k)
				for i := range qx {
					qx[i] = uint8(rng.IntN(1 << c.xb))
				}
				for i := range qw {
					qw[i] = uint8(rng.IntN(1 << c.wb))
				}
				x, err := PackPlanes(qx, c.m, c.k, c.xb)
				if err != nil {
					t.Fatal(err)
				}
				w, err := PackPlanePanels(qw, c.n, c.k, c.wb, c.code)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]int32, c.m*c.n)
				if err := BitSerialGEMM(out, x, w); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < c.m; i++ {
					for j := 0; j < c.n; j++ {
						var s int32
						for kk := 0; kk < c.k; kk++ {
							s += int32(qx[i*c.k+kk]) * level(qw[j*c.k+kk], c.wb, c.code)
						}
						if out[i*c.n+j] != s {
							t.Fatalf("out[%d,%d]=%d, want %d", i, j, out[i*c.n+j], s)
						}
					}
				}
			})
		}
	})
}

// TestDoReFaW2A2 checks the real-valued DoReFa levels: out/9 equals the
// float dot of (2q−3)/3 weights and q/3 activations.
func TestDoReFaW2A2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const m, n, k = 3, 5, 100
	qx, qw := make([]uint8, m*k), make([]uint8, n*k)
	for i := range qx {
		qx[i] = uint8(rng.IntN(4))
	}
	for i := range qw {
		qw[i] = uint8(rng.IntN(4))
	}
	x, _ := PackPlanes(qx, m, k, 2)
	w, _ := PackPlanePanels(qw, n, k, 2, Offset)
	out := make([]int32, m*n)
	if err := BitSerialGEMM(out, x, w); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var f float64
			for kk := 0; kk < k; kk++ {
				f += float64(qx[i*k+kk]) / 3 * (2*float64(qw[j*k+kk]) - 3) / 3
			}
			if d := float64(out[i*n+j])/9 - f; d > 1e-9 || d < -1e-9 {
				t.Fatalf("out[%d,%d]/9=%g, want %g", i, j, float64(out[i*n+j])/9, f)
			}
		}
	}
}

func TestBitSerialErrors(t *testing.T) {
	if _, err := PackPlanes([]uint8{4}, 1, 1, 2); !errors.Is(err, ErrShape) {
		t.Fatalf("code too wide: %v", err)
	}
	if _, err := PackPlanePanels([]uint8{1, 2}, 1, 2, 2, Binary); !errors.Is(err, ErrShape) {
		t.Fatalf("binary with 2 bits: %v", err)
	}
	x, _ := PackPlanes(make([]uint8, 10), 1, 10, 2)
	w, _ := PackPlanePanels(make([]uint8, 11), 1, 11, 1, Binary)
	if err := BitSerialGEMM(make([]int32, 1), x, w); !errors.Is(err, ErrShape) {
		t.Fatalf("K mismatch: %v", err)
	}
}
