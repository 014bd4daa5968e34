package gemm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

// naiveSgemm is the triple-loop reference, accumulated in float64.
func naiveSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// kernelNames lists every micro-kernel this CPU runs, generic included.
func kernelNames() []string {
	var names []string
	for _, k := range kernels {
		names = append(names, k.name)
	}
	return names
}

// withKernel runs f with the named kernel and the given thread count.
func withKernel(t testing.TB, name string, threads int, f func()) {
	t.Helper()
	restore, ok := setKernel(name)
	if !ok {
		t.Skipf("kernel %s not supported", name)
	}
	defer restore()
	prev := Threads()
	SetThreads(threads)
	defer SetThreads(prev)
	f()
}

type gemmCase struct {
	m, n, k     int
	alpha, beta float32
	padA, padB  int // extra leading-dimension slack
	padC        int
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	sizes := []int{1, 3, 17, 63, 65, 129}
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range []int{1, 17, 65, 300} {
				cs = append(cs, gemmCase{m: m, n: n, k: k, alpha: 1, beta: 0})
			}
		}
	}
	cs = append(cs,
		gemmCase{m: 33, n: 47, k: 29, alpha: 0.5, beta: 1, padA: 3, padB: 5, padC: 7},
		gemmCase{m: 70, n: 40, k: 513, alpha: -1.5, beta: 0.25, padA: 1, padB: 2, padC: 3},
		gemmCase{m: 200, n: 530, k: 260, alpha: 1, beta: -1, padA: 4},
		gemmCase{m: 20, n: 25, k: 3000, alpha: 1, beta: 0.5}, // K split
		gemmCase{m: 8, n: 32, k: 4096, alpha: 2, beta: 0},    // K split, full tiles
		gemmCase{m: 500, n: 20, k: 25, alpha: 1, beta: 0},    // LeNet conv1-like
		gemmCase{m: 64, n: 1100, k: 100, alpha: 1, beta: 2},  // N split, nc blocks
		gemmCase{m: 400, n: 64, k: 64, alpha: 1, beta: 0, padC: 1},
		gemmCase{m: 5, n: 7, k: 0, alpha: 1, beta: 0.5}, // k == 0 scales C
		gemmCase{m: 5, n: 7, k: 9, alpha: 0, beta: 3},   // alpha == 0 scales C
	)
	return cs
}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, kn := range kernelNames() {
		for _, threads := range []int{1, 2, 3} {
			for _, tc := range gemmCases() {
				for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					name := fmt.Sprintf("%s/t%d/%dx%dx%d/a%v_b%v/tA=%v,tB=%v,pad=%d,%d,%d",
						kn, threads, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tr[0], tr[1], tc.padA, tc.padB, tc.padC)
					t.Run(name, func(t *testing.T) {
						withKernel(t, kn, threads, func() { checkSgemm(t, rng, tr[0], tr[1], tc) })
					})
				}
			}
		}
	}
}

func checkSgemm(t *testing.T, rng *rand.Rand, transA, transB bool, tc gemmCase) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.k
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := max(1, ac)+tc.padA, max(1, bc)+tc.padB, max(1, n)+tc.padC
	a := randSlice(rng, ar*lda)
	b := randSlice(rng, br*ldb)
	c := randSlice(rng, m*ldc)
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	// Trim each slice to the minimum Sgemm accepts, so any over-read by
	// the kernels panics here.
	a, b = a[:minLen(ar, ac, lda)], b[:minLen(br, bc, ldb)]
	want := append([]float32(nil), c...)
	naiveSgemm(transA, transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	if err := Sgemm(transA, transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc); err != nil {
		t.Fatal(err)
	}
	tol := 1e-5 * float64(k+1)
	for i := range m {
		for j := range ldc {
			got, exp := c[i*ldc+j], want[i*ldc+j]
			if j >= n { // padding must be untouched
				if !(got == exp || (got != got && exp != exp)) {
					t.Fatalf("padding C[%d,%d] changed: %v -> %v", i, j, exp, got)
				}
				continue
			}
			if d := math.Abs(float64(got - exp)); !(d <= tol*(1+math.Abs(float64(exp)))) {
				t.Fatalf("C[%d,%d] = %v, want %v", i, j, got, exp)
			}
		}
	}
}

func minLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// TestKernelsAgree checks that every SIMD kernel matches the generic one
// on the same problem, within float32 rounding.
func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const m, n, k = 77, 91, 333
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	ref := make([]float32, m*n)
	withKernel(t, "generic", 1, func() {
		if err := Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, ref, n); err != nil {
			t.Fatal(err)
		}
	})
	for _, kn := range kernelNames() {
		t.Run(kn, func(t *testing.T) {
			got := make([]float32, m*n)
			withKernel(t, kn, 2, func() {
				if err := Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, got, n); err != nil {
					t.Fatal(err)
				}
			})
			for i := range got {
				if d := math.Abs(float64(got[i] - ref[i])); d > 1e-3 {
					t.Fatalf("[%d] = %v, generic %v", i, got[i], ref[i])
				}
			}
		})
	}
}

func TestSgemmErrors(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 9)
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a, b, c        []float32
		lda, ldb, ldc  int
	}{
		{name: "negative m", m: -1, n: 3, k: 4, a: a, b: b, c: c, lda: 4, ldb: 3, ldc: 3},
		{name: "negative k", m: 3, n: 3, k: -4, a: a, b: b, c: c, lda: 4, ldb: 3, ldc: 3},
		{name: "lda < k", m: 3, n: 3, k: 4, a: a, b: b, c: c, lda: 3, ldb: 3, ldc: 3},
		{name: "lda < m transA", transA: true, m: 3, n: 3, k: 4, a: a, b: b, c: c, lda: 2, ldb: 3, ldc: 3},
		{name: "ldb < n", m: 3, n: 3, k: 4, a: a, b: b, c: c, lda: 4, ldb: 2, ldc: 3},
		{name: "ldb < k transB", transB: true, m: 3, n: 3, k: 4, a: a, b: b, c: c, lda: 4, ldb: 3, ldc: 3},
		{name: "ldc < n", m: 3, n: 3, k: 4, a: a, b: b, c: c, lda: 4, ldb: 3, ldc: 2},
		{name: "ldc zero", m: 0, n: 0, k: 0, lda: 1, ldb: 1, ldc: 0},
		{name: "short A", m: 3, n: 3, k: 4, a: a[:11], b: b, c: c, lda: 4, ldb: 3, ldc: 3},
		{name: "short B", m: 3, n: 3, k: 4, a: a, b: b[:11], c: c, lda: 4, ldb: 3, ldc: 3},
		{name: "short C", m: 3, n: 3, k: 4, a: a, b: b, c: c[:8], lda: 4, ldb: 3, ldc: 3},
		{name: "nil C", m: 3, n: 3, k: 4, a: a, b: b, lda: 4, ldb: 3, ldc: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Sgemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
			if !errors.Is(err, ErrShape) {
				t.Fatalf("err = %v, want ErrShape", err)
			}
		})
	}
	// Empty problems are valid and touch nothing.
	if err := Sgemm(false, false, 0, 5, 2, 1, nil, 2, b, 5, 0, nil, 5); err != nil {
		t.Fatalf("m=0: %v", err)
	}
}

func TestSgemmAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const m, n, k = 256, 256, 256
	a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
	for _, kn := range kernelNames() {
		for _, threads := range []int{1, 2} {
			withKernel(t, kn, threads, func() {
				allocs := testing.AllocsPerRun(20, func() {
					_ = Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				})
				if allocs > 0.5 {
					t.Errorf("%s/t%d: %.1f allocs per call, want ~0", kn, threads, allocs)
				}
			})
		}
	}
}

func TestThreads(t *testing.T) {
	prev := Threads()
	defer SetThreads(prev)
	SetThreads(3)
	if got := Threads(); got != 3 {
		t.Fatalf("Threads() = %d, want 3", got)
	}
	SetThreads(0)
	if got := Threads(); got < 1 {
		t.Fatalf("default Threads() = %d", got)
	}
}

func TestKernelName(t *testing.T) {
	switch Kernel() {
	case "avx512", "avx2", "generic":
	default:
		t.Fatalf("Kernel() = %q", Kernel())
	}
}

// TestOpenBLAS checks the comparison baseline itself (build tag openblas).
func TestOpenBLAS(t *testing.T) {
	if OpenBLAS == nil {
		t.Skip("built without -tags openblas")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		const m, n, k = 37, 45, 53
		a, b := randSlice(rng, m*k), randSlice(rng, k*n)
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		got, want := randSlice(rng, m*n), make([]float32, m*n)
		copy(want, got)
		OpenBLAS(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0.5, got, n)
		naiveSgemm(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0.5, want, n)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-3 {
				t.Fatalf("trans=%v: C[%d] = %v, want %v", tr, i, got[i], want[i])
			}
		}
	}
}

// TestNoASMEnv checks that LOWBIT_NOASM=1 selects the generic kernel at
// init, by rerunning this test binary with it set.
func TestNoASMEnv(t *testing.T) {
	if os.Getenv("LOWBIT_NOASM") == "1" {
		if Kernel() != "generic" {
			t.Fatalf("LOWBIT_NOASM=1: Kernel() = %q, want generic", Kernel())
		}
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoASMEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOWBIT_NOASM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("LOWBIT_NOASM=1 run: %v\n%s", err, out)
	}
}

// TestSgemmRowsIndependent checks Sgemm's promise for a non-transposed A:
// a row of C has the same bits whether it is computed alone (the m = 1
// kernel), with other rows, on any number of threads, or from B stored
// transposed (forward passes at any batch size; the engine keeps its
// classifier's weights transposed for the m = 1 kernel).
func TestSgemmRowsIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	defer SetThreads(Threads())
	for _, kern := range kernels {
		restore, _ := setKernel(kern.name)
		for _, sz := range []struct{ m, n, k int }{{37, 1000, 512}, {49, 512, 4608}, {9, 10, 84}, {5, 70, 700}, {3, 300, 40}} {
			a, b := randSlice(rng, sz.m*sz.k), randSlice(rng, sz.k*sz.n)
			bt := make([]float32, len(b)) // n×k
			for p := range sz.k {
				for j := range sz.n {
					bt[j*sz.k+p] = b[p*sz.n+j]
				}
			}
			SetThreads(1)
			row := make([]float32, sz.n)
			want := make([]float32, 0, sz.m*sz.n)
			for i := range sz.m {
				if err := Sgemm(false, false, 1, sz.n, sz.k, 1, a[i*sz.k:], sz.k, b, sz.n, 0, row, sz.n); err != nil {
					t.Fatal(err)
				}
				want = append(want, row...)
			}
			for _, threads := range []int{1, 2, 3} {
				SetThreads(threads)
				for _, transB := range []bool{false, true} {
					bb, ldb := b, sz.n
					if transB {
						bb, ldb = bt, sz.k
					}
					got := make([]float32, sz.m*sz.n)
					if err := Sgemm(false, transB, sz.m, sz.n, sz.k, 1, a, sz.k, bb, ldb, 0, got, sz.n); err != nil {
						t.Fatal(err)
					}
					compareExact(t, fmt.Sprintf("%s %+v transB=%v threads %d", kern.name, sz, transB, threads), got, want)
				}
			}
		}
		restore()
	}
}
