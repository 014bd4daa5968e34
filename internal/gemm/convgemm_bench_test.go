package gemm

import "testing"

// BenchmarkConvStep times one conv layer's three training products, through
// a materialised im2col matrix (explicit: Im2col, Sgemm, Col2im, as layers
// ran them before the implicit GEMM) and implicit (ConvForward,
// ConvGradInput, ConvGradWeights):
//
//	go test -run '^$' -bench ConvStep -cpu 1,2 ./internal/gemm
func BenchmarkConvStep(b *testing.B) {
	shapes := []struct {
		name string
		s    ConvShape
		o    int
	}{
		{"resnet20_s1", ConvShape{N: 128, H: 32, W: 32, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 16},
		{"resnet20_s3", ConvShape{N: 128, H: 8, W: 8, C: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 64},
		{"resnet18_s1", ConvShape{N: 32, H: 56, W: 56, C: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 64},
		{"lenet_conv2", ConvShape{N: 64, H: 12, W: 12, C: 6, KH: 5, KW: 5, StrideH: 1, StrideW: 1}, 16},
	}
	for _, sh := range shapes {
		s, o := sh.s, sh.o
		m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
		x, w, g := make([]float32, s.InputLen()), make([]float32, o*k), make([]float32, m*o)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		y, dw, dx := make([]float32, m*o), make([]float32, o*k), make([]float32, s.InputLen())
		col := make([]float32, s.ColLen())
		b.Run(sh.name+"/explicit", func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				Im2col(s, x, col)
				_ = Sgemm(false, true, m, o, k, 1, col, k, w, k, 0, y, o)
				_ = Sgemm(true, false, o, k, m, 1, g, o, col, k, 0, dw, k)
				_ = Sgemm(false, false, m, k, o, 1, g, o, w, k, 0, col, k)
				clear(dx)
				Col2im(s, col, dx)
			}
		})
		b.Run(sh.name+"/implicit", func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				_ = ConvForward(s, x, w, o, y)
				_ = ConvGradWeights(s, g, x, o, dw)
				_ = ConvGradInput(s, g, w, o, dx)
			}
		})
	}
}

// reportCPU adds a cpu-ms/op metric (process CPU time per iteration) when
// the returned function runs.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/1e6/float64(b.N), "cpu-ms/op")
	}
}
