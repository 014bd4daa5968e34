package bitpack

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ResNet-18 3×3 layer GEMMs: M = Cout, N = output pixels, K = Cin·9.
// The kernels put pixels on rows and Cout on panels. GOPS counts one MAC
// as 2 ops (2·M·N·K), comparable to sgemm GFLOPS.
var resnetShapes = []struct {
	m, n, k int // Cout, pixels, Cin·9
	side    int // output height = width
}{
	{64, 3136, 576, 56}, {128, 784, 1152, 28}, {256, 196, 2304, 14}, {512, 49, 4608, 7},
}

type benchOperands struct {
	a   *Matrix
	w   *Panels
	x2  *Planes
	w1  *PlanePanels
	u8  *U8Matrix
	s8  *S8Panels
	out []int32
}

func newBenchOperands(m, n, k int) *benchOperands {
	rng := rand.New(rand.NewPCG(1, 2))
	o := &benchOperands{out: make([]int32, m*n)}
	o.a, _ = PackMatrix(randSigns(rng, n*k), n, k)
	wm, _ := PackMatrix(randSigns(rng, m*k), m, k)
	o.w = PackPanels(wm)
	qx, qw := make([]uint8, n*k), make([]uint8, m*k)
	for i := range qx {
		qx[i] = uint8(rng.IntN(4))
	}
	for i := range qw {
		qw[i] = uint8(rng.IntN(2))
	}
	o.x2, _ = PackPlanes(qx, n, k, 2)
	o.w1, _ = PackPlanePanels(qw, m, k, 1, Binary)
	u8 := make([]uint8, n*k)
	s8 := make([]int8, m*k)
	for i := range u8 {
		u8[i] = uint8(rng.IntN(256))
	}
	for i := range s8 {
		s8[i] = int8(rng.IntN(256) - 128)
	}
	o.u8, _ = PackU8(u8, n, k)
	o.s8, _ = PackS8Panels(s8, m, k)
	return o
}

func gops(b *testing.B, m, n, k int) {
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
}

func BenchmarkKernels(b *testing.B) {
	for _, s := range resnetShapes {
		o := newBenchOperands(s.m, s.n, s.k)
		kernelsList := []struct {
			name string
			asm  bool
			run  func() error
		}{
			{"xnor-asm", true, func() error { return GEMM(o.out, o.a, o.w) }},
			{"xnor-go", false, func() error { return GEMM(o.out, o.a, o.w) }},
			{"w1a2-asm", true, func() error { return BitSerialGEMM(o.out, o.x2, o.w1) }},
			{"w1a2-go", false, func() error { return BitSerialGEMM(o.out, o.x2, o.w1) }},
			{"int8-vnni", true, func() error { return GEMMU8S8(o.out, o.u8, o.s8) }},
			{"int8-go", false, func() error { return GEMMU8S8(o.out, o.u8, o.s8) }},
		}
		for _, kern := range kernelsList {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, kern.name), func(b *testing.B) {
				defer setAsm(kern.asm)()
				b.ReportAllocs()
				for b.Loop() {
					if err := kern.run(); err != nil {
						b.Fatal(err)
					}
				}
				gops(b, s.m, s.n, s.k)
			})
		}
	}
}

// BenchmarkConvLayer is a full binary 3×3 conv layer (stride 1, pad 1):
// bit-im2col + XNOR GEMM + fused BN threshold writing packed bits. The
// input is already packed (the previous layer's output).
func BenchmarkConvLayer(b *testing.B) {
	for _, s := range resnetShapes {
		cin := s.k / 9
		rng := rand.New(rand.NewPCG(5, 6))
		in, _ := PackNHWC(randSigns(rng, s.side*s.side*cin), 1, s.side, s.side, cin)
		cw, _ := PackConvWeights(randSigns(rng, s.m*9*cin), s.m, 3, 3, cin)
		th, _ := FoldBN(randBN(rng, s.m))
		out := NewMap(1, s.side, s.side, s.m)
		for _, pad := range []PadMode{PadOne, PadZero} {
			b.Run(fmt.Sprintf("%dx%dx%d/pad%d", s.m, s.n, s.k, pad), func(b *testing.B) {
				conv := &Conv{Weights: cw, PadH: 1, PadW: 1, Pad: pad}
				b.ReportAllocs()
				for b.Loop() {
					if err := conv.ForwardSign(out, in, th); err != nil {
						b.Fatal(err)
					}
				}
				gops(b, s.m, s.n, s.k)
			})
		}
	}
}

// BenchmarkRatios interleaves XNOR, W1A2 and int8 within each round and
// reports medians and the W1A2/W1A1 time ratio (target <= 2.3).
func BenchmarkRatios(b *testing.B) {
	for _, s := range resnetShapes {
		o := newBenchOperands(s.m, s.n, s.k)
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			var tx, tb, ti []float64
			timeit := func(f func() error) float64 {
				t0 := time.Now()
				for range 5 {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(t0).Seconds() / 5
			}
			for b.Loop() {
				tx = append(tx, timeit(func() error { return GEMM(o.out, o.a, o.w) }))
				tb = append(tb, timeit(func() error { return BitSerialGEMM(o.out, o.x2, o.w1) }))
				ti = append(ti, timeit(func() error { return GEMMU8S8(o.out, o.u8, o.s8) }))
			}
			ops := 2 * float64(s.m) * float64(s.n) * float64(s.k) / 1e9
			med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
			mx, mb, mi := med(tx), med(tb), med(ti)
			b.ReportMetric(ops/mx, "xnor-GOPS")
			b.ReportMetric(ops/mb, "w1a2-GOPS")
			b.ReportMetric(ops/mi, "int8-GOPS")
			b.ReportMetric(mb/mx, "w1a2/xnor")
		})
	}
}
