package gemm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// convGemmShapes adds shapes with more rows and columns than one cache
// block (K > kcBlock, M > mcBlock) to convShapes.
var convGemmShapes = append([]ConvShape{
	{N: 3, H: 9, W: 9, C: 40, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, H: 10, W: 11, C: 8, KH: 1, KW: 1, StrideH: 2, StrideW: 2},
	{N: 2, H: 16, W: 16, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 16, H: 32, W: 32, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, // direct ∂W in two chunks
	{N: 2, H: 23, W: 21, C: 3, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3},   // in-place ∂W, partial tiles (KW·C = 21)
	{N: 2, H: 9, W: 8, C: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},    // ∂W's B straight into panels (C % 32 = 0)
	{N: 2, H: 6, W: 7, C: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},    // the same over two column blocks (K = 576)
}, convShapes...)

// TestConvImplicit checks ConvForward and ConvGradWeights against Sgemm on
// the materialised im2col matrix, and ConvGradInput against Sgemm + Col2im,
// for every kernel and thread count. The direct paths sum in another order,
// hence the tolerances.
func TestConvImplicit(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, kern := range kernels {
		for _, threads := range []int{1, 2} {
			for _, s := range convGemmShapes {
				for _, o := range []int{3, 16, 33} {
					t.Run(fmt.Sprintf("%s/t%d/o%d/%+v", kern.name, threads, o, s), func(t *testing.T) {
						restore, _ := setKernel(kern.name)
						defer restore()
						prev := Threads()
						SetThreads(threads)
						defer SetThreads(prev)
						checkConvImplicit(t, rng, s, o)
					})
				}
			}
		}
	}
}

func checkConvImplicit(t *testing.T, rng *rand.Rand, s ConvShape, o int) {
	t.Helper()
	m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
	x, w, g := randSlice(rng, s.InputLen()), randSlice(rng, o*k), randSlice(rng, m*o)
	col := naiveIm2col(s, x)

	want, got := make([]float32, m*o), randSlice(rng, m*o)
	if err := Sgemm(false, true, m, o, k, 1, col, k, w, k, 0, want, o); err != nil {
		t.Fatal(err)
	}
	if err := ConvForward(s, x, w, o, got); err != nil {
		t.Fatal(err)
	}
	compareClose(t, "ConvForward", got, want, 1e-4)

	want, got = make([]float32, o*k), randSlice(rng, o*k)
	if err := Sgemm(true, false, o, k, m, 1, g, o, col, k, 0, want, k); err != nil {
		t.Fatal(err)
	}
	if err := ConvGradWeights(s, g, x, o, got); err != nil {
		t.Fatal(err)
	}
	compareClose(t, "ConvGradWeights", got, want, 1e-4)

	dcol := make([]float32, m*k)
	if err := Sgemm(false, false, m, k, o, 1, g, o, w, k, 0, dcol, k); err != nil {
		t.Fatal(err)
	}
	want, got = make([]float32, s.InputLen()), randSlice(rng, s.InputLen())
	naiveCol2im(s, dcol, want)
	if err := ConvGradInput(s, g, w, o, got); err != nil {
		t.Fatal(err)
	}
	compareClose(t, "ConvGradInput", got, want, 1e-4)
}

// compareClose fails when |got-want| > tol*(1+|want|) anywhere.
func compareClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestConvImplicitErrors(t *testing.T) {
	s := ConvShape{N: 2, H: 5, W: 5, C: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	m, k, o := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C, 4
	x, w, g, y := make([]float32, s.InputLen()), make([]float32, o*k), make([]float32, m*o), make([]float32, m*o)
	bad := s
	bad.StrideH = 0
	tests := []struct {
		name string
		f    func() error
	}{
		{"forward short x", func() error { return ConvForward(s, x[1:], w, o, y) }},
		{"forward short w", func() error { return ConvForward(s, x, w[1:], o, y) }},
		{"forward short out", func() error { return ConvForward(s, x, w, o, y[1:]) }},
		{"forward bad shape", func() error { return ConvForward(bad, x, w, o, y) }},
		{"forward no channels", func() error { return ConvForward(s, x, w, 0, y) }},
		{"grad w short g", func() error { return ConvGradWeights(s, g[1:], x, o, w) }},
		{"grad w short dw", func() error { return ConvGradWeights(s, g, x, o, w[1:]) }},
		{"grad x short dx", func() error { return ConvGradInput(s, g, w, o, x[1:]) }},
		{"grad x short w", func() error { return ConvGradInput(s, g, w[1:], o, x) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(); !errors.Is(err, ErrShape) {
				t.Fatalf("err = %v, want ErrShape", err)
			}
		})
	}
}

func TestConvImplicitAllocs(t *testing.T) {
	s := ConvShape{N: 8, H: 16, W: 16, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	m, k, o := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C, 16
	x, w, g, y := make([]float32, s.InputLen()), make([]float32, o*k), make([]float32, m*o), make([]float32, m*o)
	dw := make([]float32, o*k)
	step := func() {
		_ = ConvForward(s, x, w, o, y)
		_ = ConvGradWeights(s, g, x, o, dw)
		_ = ConvGradInput(s, g, w, o, x)
	}
	step()
	if allocs := testing.AllocsPerRun(10, step); allocs > 0.5 {
		t.Fatalf("%.1f allocs per conv step, want ~0", allocs)
	}
}

// TestConvForwardThreadsExact checks that ConvForward and ConvGradWeights
// give the same bits at every thread count (the direct path splits batch-1
// images into bands of output rows; the in-place weight gradient splits
// over tiles of the filter, while the packed one may split K), and that the direct path, one accumulation chain per
// output in im2col's column order, equals Sgemm on the im2col matrix bit
// for bit when K fits one cache block.
func TestConvForwardThreadsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	shapes := []ConvShape{
		{N: 1, H: 30, W: 29, C: 3, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, // ResNet-18's conv1, smaller
		{N: 1, H: 17, W: 17, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
		{N: 3, H: 9, W: 9, C: 40, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	}
	defer SetThreads(Threads())
	for _, kern := range kernels {
		restore, _ := setKernel(kern.name)
		for _, s := range shapes {
			for _, o := range []int{64, 5} {
				m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
				x, w := randSlice(rng, s.InputLen()), randSlice(rng, o*k)
				g := randSlice(rng, m*o)
				var ref, refW []float32
				for _, threads := range []int{1, 2, 3, 7} {
					SetThreads(threads)
					got, gotW := randSlice(rng, m*o), randSlice(rng, o*k)
					if err := ConvForward(s, x, w, o, got); err != nil {
						t.Fatal(err)
					}
					if err := ConvGradWeights(s, g, x, o, gotW); err != nil {
						t.Fatal(err)
					}
					if ref == nil {
						ref, refW = got, gotW
						continue
					}
					compareExact(t, fmt.Sprintf("%s %+v o=%d threads %d", kern.name, s, o, threads), got, ref)
					if inPlaceGradOK(kern, s, o) { // the packed path may split K
						compareExact(t, fmt.Sprintf("%s %+v o=%d threads %d: ConvGradWeights", kern.name, s, o, threads), gotW, refW)
					}
				}
				if directOK(kern, s, o) && k <= kcBlock {
					SetThreads(1) // no split of K
					want := make([]float32, m*o)
					if err := Sgemm(false, true, m, o, k, 1, naiveIm2col(s, x), k, w, k, 0, want, o); err != nil {
						t.Fatal(err)
					}
					compareExact(t, fmt.Sprintf("%s %+v o=%d direct vs Sgemm", kern.name, s, o), ref, want)
				}
			}
		}
		restore()
	}
}

func compareExact(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestConvImplicitScalarPack runs TestConvImplicit's checks with the
// scalar packing copies (off amd64, and under LOWBIT_NOASM=1) in place of
// copyPanels.
func TestConvImplicitScalarPack(t *testing.T) {
	defer func(v bool) { packVector = v }(packVector)
	packVector = false
	rng := rand.New(rand.NewPCG(8, 8))
	for _, s := range convGemmShapes {
		for _, o := range []int{16, 33} {
			t.Run(fmt.Sprintf("o%d/%+v", o, s), func(t *testing.T) { checkConvImplicit(t, rng, s, o) })
		}
	}
}

// TestConvGradWeightsInPlaceWide covers the in-place weight gradient of
// layers wider than maxInPlaceO (maps of at least minInPlaceMap outputs):
// close to Sgemm on the im2col matrix, and the same bits at every thread
// count.
func TestConvGradWeightsInPlaceWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	defer SetThreads(Threads())
	for _, kern := range kernels {
		restore, _ := setKernel(kern.name)
		for _, s := range []ConvShape{
			{N: 2, H: 16, W: 15, C: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
			{N: 2, H: 30, W: 29, C: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		} {
			const o = 80
			if kern.genRows != nil && !inPlaceGradOK(kern, s, o) {
				t.Fatalf("%+v, %d channels: not in place", s, o)
			}
			SetThreads(1)
			checkConvImplicit(t, rng, s, o)
			if !inPlaceGradOK(kern, s, o) {
				continue // the packed path may split K
			}
			m, k := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C
			x, g := randSlice(rng, s.InputLen()), randSlice(rng, m*o)
			var ref []float32
			for _, threads := range []int{1, 2, 3} {
				SetThreads(threads)
				got := randSlice(rng, o*k)
				if err := ConvGradWeights(s, g, x, o, got); err != nil {
					t.Fatal(err)
				}
				if ref == nil {
					ref = got
					continue
				}
				compareExact(t, fmt.Sprintf("%s %+v threads %d", kern.name, s, threads), got, ref)
			}
		}
		restore()
	}
}
