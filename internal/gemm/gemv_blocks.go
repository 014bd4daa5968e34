package gemm

import "fmt"

// BlockCols is the columns of one block of BlockColumns: the widest
// one-row micro-kernel.
const BlockCols = gemvCols

// BlockColumns returns the k×n row-major matrix t as consecutive blocks
// of BlockCols columns (the last narrower), each k×width row-major, the
// layout SgemvBlocks reads. A one-row product over t itself reads each
// of its rows BlockCols columns at a time, a page further per step,
// which no prefetcher follows: a classifier's 2 MB of weights streamed
// at a quarter of the speed.
func BlockColumns(t []float32, k, n int) []float32 {
	out := make([]float32, k*n)
	off := 0
	for c0 := 0; c0 < n; c0 += BlockCols {
		wb := min(BlockCols, n-c0)
		for p := 0; p < k; p++ {
			copy(out[off+p*wb:off+(p+1)*wb], t[p*n+c0:])
		}
		off += k * wb
	}
	return out
}

// SgemmBlocks sets y = x·W for m rows of x (k values each, row-major) and
// the k×n matrix W in BlockColumns' layout (wb), y's rows n apart, with
// Sgemm(false, false, m, n, k, 1, x, k, W, n, 0, y, n)'s bits: each
// output is the same chain over the same K blocks. One row runs the
// one-row kernel over each block on the calling goroutine; more rows
// run one Sgemm per block.
func SgemmBlocks(m, k, n int, x, wb, y []float32) error {
	if m < 1 || k < 1 || n < 1 || len(x) < m*k || len(wb) < k*n || len(y) < m*n {
		return fmt.Errorf("gemm: SgemmBlocks: m %d, k %d, n %d with %d, %d and %d values: %w", m, k, n, len(x), len(wb), len(y), ErrShape)
	}
	kern := active.Load()
	if m > 1 || kern.gemv == nil || useBLAS.Load() {
		off := 0
		for c0 := 0; c0 < n; c0 += BlockCols {
			w := min(BlockCols, n-c0)
			if err := Sgemm(false, false, m, w, k, 1, x, k, wb[off:off+k*w], w, 0, y[c0:], n); err != nil {
				return err
			}
			off += k * w
		}
		return nil
	}
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		beta := float32(0)
		if pc > 0 {
			beta = 1
		}
		off := 0
		for c0 := 0; c0 < n; c0 += BlockCols {
			w := min(BlockCols, n-c0)
			kern.gemv(kc, x[pc:], 1, wb[off+pc*w:], w, y[c0:], 1, beta, w)
			off += k * w
		}
	}
	return nil
}
