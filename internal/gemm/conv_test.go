package gemm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveIm2col is the definition: col[(n,oh,ow)][(kh,kw,c)] =
// x[n][oh*sh-ph+kh][ow*sw-pw+kw][c], or 0 outside the input.
func naiveIm2col(s ConvShape, x []float32) []float32 {
	oh, ow := s.OutH(), s.OutW()
	col := make([]float32, s.ColLen())
	i := 0
	for n := range s.N {
		for y := range oh {
			for xo := range ow {
				for kh := range s.KH {
					for kw := range s.KW {
						for c := range s.C {
							ih, iw := y*s.StrideH-s.PadH+kh, xo*s.StrideW-s.PadW+kw
							if ih >= 0 && ih < s.H && iw >= 0 && iw < s.W {
								col[i] = x[((n*s.H+ih)*s.W+iw)*s.C+c]
							}
							i++
						}
					}
				}
			}
		}
	}
	return col
}

var convShapes = []ConvShape{
	{N: 1, H: 1, W: 1, C: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{N: 2, H: 5, W: 7, C: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, H: 8, W: 9, C: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	{N: 3, H: 7, W: 6, C: 2, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 0, PadW: 1},
	{N: 1, H: 4, W: 4, C: 5, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2},
	{N: 2, H: 6, W: 6, C: 1, KH: 6, KW: 6, StrideH: 1, StrideW: 1, PadH: 3, PadW: 3}, // all-padding rows
	{N: 64, H: 28, W: 28, C: 1, KH: 5, KW: 5, StrideH: 1, StrideW: 1},                // LeNet conv1, parallel
	{N: 8, H: 12, W: 12, C: 20, KH: 5, KW: 5, StrideH: 1, StrideW: 1},                // LeNet conv2
	{N: 4, H: 15, W: 15, C: 16, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3},
}

func TestIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, threads := range []int{1, 2} {
		for _, s := range convShapes {
			t.Run(fmt.Sprintf("t%d/%+v", threads, s), func(t *testing.T) {
				prev := Threads()
				SetThreads(threads)
				defer SetThreads(prev)
				x := randSlice(rng, s.InputLen())
				want := naiveIm2col(s, x)
				got := randSlice(rng, s.ColLen()) // stale contents must be overwritten
				Im2col(s, x, got)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("col[%d] = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestCol2imAdjoint checks <Im2col(x), y> == <x, Col2im(y)> and that
// Col2im adds into dx rather than overwriting it.
func TestCol2imAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, threads := range []int{1, 2} {
		for _, s := range convShapes {
			t.Run(fmt.Sprintf("t%d/%+v", threads, s), func(t *testing.T) {
				prev := Threads()
				SetThreads(threads)
				defer SetThreads(prev)
				x := randSlice(rng, s.InputLen())
				y := randSlice(rng, s.ColLen())
				col := make([]float32, s.ColLen())
				Im2col(s, x, col)
				base := randSlice(rng, s.InputLen())
				dx := append([]float32(nil), base...)
				Col2im(s, y, dx)
				var lhs, rhs float64
				for i := range col {
					lhs += float64(col[i]) * float64(y[i])
				}
				for i := range x {
					rhs += float64(x[i]) * float64(dx[i]-base[i])
				}
				if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
					t.Fatalf("<Im2col(x), y> = %v, <x, Col2im(y)> = %v", lhs, rhs)
				}
				// Exact reference: scatter-add through the naive index map.
				want := append([]float32(nil), base...)
				naiveCol2im(s, y, want)
				for i := range want {
					if math.Abs(float64(dx[i]-want[i])) > 1e-5 {
						t.Fatalf("dx[%d] = %v, want %v", i, dx[i], want[i])
					}
				}
			})
		}
	}
}

func naiveCol2im(s ConvShape, col, dx []float32) {
	oh, ow := s.OutH(), s.OutW()
	i := 0
	for n := range s.N {
		for y := range oh {
			for xo := range ow {
				for kh := range s.KH {
					for kw := range s.KW {
						for c := range s.C {
							ih, iw := y*s.StrideH-s.PadH+kh, xo*s.StrideW-s.PadW+kw
							if ih >= 0 && ih < s.H && iw >= 0 && iw < s.W {
								dx[((n*s.H+ih)*s.W+iw)*s.C+c] += col[i]
							}
							i++
						}
					}
				}
			}
		}
	}
}

func TestConvShapeValidate(t *testing.T) {
	ok := ConvShape{N: 1, H: 5, W: 5, C: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1}
	tests := []struct {
		name   string
		modify func(*ConvShape)
		ok     bool
	}{
		{"valid", func(*ConvShape) {}, true},
		{"zero batch", func(s *ConvShape) { s.N = 0 }, false},
		{"zero channels", func(s *ConvShape) { s.C = 0 }, false},
		{"zero stride", func(s *ConvShape) { s.StrideW = 0 }, false},
		{"negative pad", func(s *ConvShape) { s.PadH = -1 }, false},
		{"filter too big", func(s *ConvShape) { s.KH = 6 }, false},
		{"filter fits with pad", func(s *ConvShape) { s.KH, s.PadH = 7, 1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.modify(&s)
			err := s.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrShape)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if s := (ConvShape{N: 1, H: 28, W: 28, C: 1, KH: 5, KW: 5, StrideH: 1, StrideW: 1}); s.OutH() != 24 || s.OutW() != 24 {
		t.Fatalf("LeNet conv1 out = %d×%d, want 24×24", s.OutH(), s.OutW())
	}
	if s := (ConvShape{N: 1, H: 224, W: 224, C: 3, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}); s.OutH() != 112 {
		t.Fatalf("ResNet stem out = %d, want 112", s.OutH())
	}
}

func TestIm2colAllocs(t *testing.T) {
	s := ConvShape{N: 64, H: 28, W: 28, C: 1, KH: 5, KW: 5, StrideH: 1, StrideW: 1}
	x, col := make([]float32, s.InputLen()), make([]float32, s.ColLen())
	Im2col(s, x, col)
	if allocs := testing.AllocsPerRun(10, func() { Im2col(s, x, col) }); allocs > 0.5 {
		t.Fatalf("%.1f allocs per Im2col, want ~0", allocs)
	}
}

func BenchmarkIm2col(b *testing.B) {
	shapes := []struct {
		name string
		s    ConvShape
	}{
		{"lenet_conv1", ConvShape{N: 64, H: 28, W: 28, C: 1, KH: 5, KW: 5, StrideH: 1, StrideW: 1}},
		{"lenet_conv2", ConvShape{N: 64, H: 12, W: 12, C: 20, KH: 5, KW: 5, StrideH: 1, StrideW: 1}},
		{"resnet18_conv2", ConvShape{N: 1, H: 56, W: 56, C: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
	}
	for _, sh := range shapes {
		s := sh.s
		x, col := make([]float32, s.InputLen()), make([]float32, s.ColLen())
		bytes := int64(4 * (s.InputLen() + s.ColLen()))
		b.Run(sh.name+"/im2col", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bytes)
			for b.Loop() {
				Im2col(s, x, col)
			}
		})
		b.Run(sh.name+"/col2im", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bytes)
			for b.Loop() {
				Col2im(s, col, x)
			}
		})
	}
}
