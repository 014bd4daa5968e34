package bitpack

import (
	"errors"
	"fmt"
	"os"
)

// ErrShape reports operands whose shapes do not fit together.
var ErrShape = errors.New("bitpack: bad shape")

// PanelWidth is the number of output channels in one weight panel of the
// binary and bit-serial kernels.
const PanelWidth = 32

// kernels selects the implementation. It is set once at init from the CPU
// flags and LOWBIT_NOASM; tests flip it through setAsm.
var kernels struct {
	popcnt bool // AVX-512F + VPOPCNTDQ binary kernels
	vnni   bool // AVX-512 VNNI int8 kernel
	ew     bool // AVX-512F + DQ elementwise row kernels (ew_amd64.s)
}

// asmAllowed is false when LOWBIT_NOASM=1 was set at program start.
var asmAllowed = os.Getenv("LOWBIT_NOASM") != "1"

func init() {
	kernels.popcnt = asmAllowed && cpuHasPopcnt512
	kernels.vnni = asmAllowed && cpuHasVNNI
	kernels.ew = asmAllowed && cpuHasEW
}

// setAsm enables or disables the assembly kernels (where the CPU has them)
// and returns a function restoring the previous choice. For tests and
// benchmarks only.
func setAsm(on bool) (restore func()) {
	old := kernels
	kernels.popcnt = on && asmAllowed && cpuHasPopcnt512
	kernels.vnni = on && asmAllowed && cpuHasVNNI
	kernels.ew = on && asmAllowed && cpuHasEW
	return func() { kernels = old }
}

func shapeErr(format string, args ...any) error {
	return fmt.Errorf("bitpack: "+format+": %w", append(args, ErrShape)...)
}

func wordsFor(k int) int { return (k + 63) / 64 }

// Matrix is a row-major matrix of ±1 values packed as bits: row r occupies
// Data[r*Words : (r+1)*Words]. K is the number of real values per row and
// Words >= ceil(K/64); all bits that do not hold a value are zero.
type Matrix struct {
	Rows, K, Words int
	Data           []uint64
}

// NewMatrix returns a zero (all +1) matrix of rows×k values.
func NewMatrix(rows, k int) *Matrix {
	w := wordsFor(k)
	return &Matrix{Rows: rows, K: k, Words: w, Data: make([]uint64, rows*w)}
}

// PackMatrix packs the row-major float matrix x (rows×k) by sign:
// x >= 0 → bit 0 (+1), x < 0 → bit 1 (−1).
func PackMatrix(x []float32, rows, k int) (*Matrix, error) {
	if rows < 0 || k < 1 || len(x) != rows*k {
		return nil, shapeErr("PackMatrix: len(x)=%d, want %d×%d", len(x), rows, k)
	}
	m := NewMatrix(rows, k)
	for r := 0; r < rows; r++ {
		packSigns(m.Data[r*m.Words:(r+1)*m.Words], x[r*k:(r+1)*k])
	}
	return m, nil
}

// packSigns packs x into dst (len(dst) >= ceil(len(x)/64)), clearing the
// padding bits.
func packSigns(dst []uint64, x []float32) {
	n := len(x)
	full := n / 64
	start := 0
	if kernels.ew && full > 0 {
		_ = dst[full-1]
		packSignsAVX(&dst[0], &x[0], full)
		start = full
	}
	for i := start; i < full; i++ {
		xs := x[i*64 : i*64+64]
		var w uint64
		for j, v := range xs {
			if v < 0 {
				w |= 1 << uint(j)
			}
		}
		dst[i] = w
	}
	if rem := n - full*64; rem > 0 {
		var w uint64
		for j, v := range x[full*64:] {
			if v < 0 {
				w |= 1 << uint(j)
			}
		}
		dst[full] = w
		full++
	}
	for i := full; i < len(dst); i++ {
		dst[i] = 0
	}
}

// At returns value k of row r as +1 or −1.
func (m *Matrix) At(r, k int) int {
	return 1 - 2*int(m.Data[r*m.Words+k/64]>>(uint(k)%64)&1)
}

// Panels holds N rows of ±1 values (the weights, one row per output
// channel) in panels of PanelWidth rows: word j of row n is
// Data[((n/PanelWidth)*Words+j)*PanelWidth + n%PanelWidth]. Rows past N in
// the last panel are zero.
type Panels struct {
	N, K, Words int
	Data        []uint64
	// rows keeps the row-major words ([N][Words]) for the portable kernel,
	// whose bounds-check-free loops want each channel contiguous.
	rows []uint64
}

func panelsFor(n int) int { return (n + PanelWidth - 1) / PanelWidth }

// PackPanels rearranges the packed weight matrix w into panels.
func PackPanels(w *Matrix) *Panels {
	p := &Panels{N: w.Rows, K: w.K, Words: w.Words, rows: append([]uint64(nil), w.Data[:w.Rows*w.Words]...)}
	p.Data = make([]uint64, panelsFor(w.Rows)*w.Words*PanelWidth)
	for n := 0; n < w.Rows; n++ {
		base := (n / PanelWidth) * w.Words * PanelWidth
		for j := 0; j < w.Words; j++ {
			p.Data[base+j*PanelWidth+n%PanelWidth] = w.Data[n*w.Words+j]
		}
	}
	return p
}

// Row returns word j of row n.
func (p *Panels) word(n, j int) uint64 {
	return p.Data[((n/PanelWidth)*p.Words+j)*PanelWidth+n%PanelWidth]
}
