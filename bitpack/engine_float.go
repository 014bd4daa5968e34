package bitpack

import (
	"fmt"

	"github.com/lowbit/lowbit/internal/gemm"
)

// The float layer path of the engine (KernelFloat). On amd64 with
// AVX-512 (and LOWBIT_NOASM unset) the weights are prepacked once into
// panels of 64 output channels, transposed so a 4×64 register tile of
// fused multiply-adds streams them; every output is one FMA chain over k
// in order, whatever the batch size or thread count, so a sample's
// logits do not depend on the batch it is in. Elsewhere the layer runs
// gemm.Sgemm on the row-major weights. Either way the float sums are not
// bit-identical to the training graph's; export's equivalence test bounds
// the logits.

// floatPanelWidth is the number of output channels of one float panel.
const floatPanelWidth = 64

// floatKB is the k block of the float GEMM: one panel block (128 KiB)
// stays in L2 while the rows stream past it.
const floatKB = 512

// floatAsm reports whether the float layers run the AVX-512 kernel. It
// follows LOWBIT_NOASM, not UseAsm, which switches the integer kernels.
var floatAsm = asmAllowed && cpuHasAVX512

// floatPanels holds n rows (output channels) of k float32 weights
// transposed into panels: w[n][kk] is data[((n/64)·k+kk)·64+n%64], zero
// past n.
type floatPanels struct {
	n, k int
	data []float32
}

func packFloatPanels(w []float32, n, k int) *floatPanels {
	np := (n + floatPanelWidth - 1) / floatPanelWidth
	p := &floatPanels{n: n, k: k, data: make([]float32, np*k*floatPanelWidth)}
	for r := 0; r < n; r++ {
		pd := p.data[(r/floatPanelWidth)*k*floatPanelWidth:]
		for kk, v := range w[r*k : (r+1)*k] {
			pd[kk*floatPanelWidth+r%floatPanelWidth] = v
		}
	}
	return p
}

// prepareFloat dequantizes the weights for the float kernel.
func (l *linear) prepareFloat(ws *WeightSpec) {
	w := ws.Dequantize(l.cout, l.k)
	if floatAsm {
		l.fp = packFloatPanels(w, l.cout, l.k)
		return
	}
	l.wf = w
}

// floatForward runs a float layer: y = W·q(x) + bias over rows output
// pixels.
func (l *linear) floatForward(s *slot, y, x []float32, n, rows int) error {
	if l.fp != nil && !l.dense && !l.pointwise() {
		xp := l.padInput(s, x, n)
		parallelRows(rows, gemmThreads(rows, l.cout, l.k), func(r0, r1 int) {
			l.floatDirect(y, xp, r0, r1)
			l.addBias(y[r0*l.cout:r1*l.cout], r1-r0)
		})
		return nil
	}
	xq := x
	if l.q.Kind != QuantNone {
		s.f32 = growF(s.f32, len(x)+rows*l.k)
		xq = s.f32[:len(x)]
		l.q.Quantize(xq, x)
	}
	col := xq
	if !l.pointwise() {
		s.f32 = growF(s.f32, len(x)+rows*l.k)
		col = s.f32[len(x) : len(x)+rows*l.k]
		gemm.Im2col(l.convShape(n), xq, col)
	}
	if l.fp != nil {
		parallelRows(rows, gemmThreads(rows, l.cout, l.k), func(r0, r1 int) {
			floatGEMM(y, l.cout, col, l.k, l.fp, r0, r1)
			l.addBias(y[r0*l.cout:r1*l.cout], r1-r0)
		})
		return nil
	}
	if err := gemm.Sgemm(false, true, rows, l.cout, l.k, 1, col, l.k, l.wf, l.k, 0, y, l.cout); err != nil {
		return fmt.Errorf("bitpack: %s: %w", l.name, err)
	}
	l.addBias(y, rows)
	return nil
}

// floatGEMM computes rows [r0, r1) of out = a·wᵀ (a row-major with
// leading dimension lda, out with ldo) on the AVX-512 kernel.
func floatGEMM(out []float32, ldo int, a []float32, lda int, w *floatPanels, r0, r1 int) {
	const pw = floatPanelWidth
	var tmp [4 * pw]float32
	for k0 := 0; k0 < w.k; k0 += floatKB {
		kb := min(floatKB, w.k-k0)
		acc := 0
		if k0 > 0 {
			acc = 1
		}
		for p := 0; p*pw < w.n; p++ {
			c0, nr := p*pw, min(pw, w.n-p*pw)
			wp := &w.data[(p*w.k+k0)*pw]
			for r := r0; r < r1; r += 4 {
				mr := min(4, r1-r)
				var rp [4]*float32
				for i := range rp {
					rp[i] = &a[(r+min(i, mr-1))*lda+k0]
				}
				if mr == 4 && nr == pw {
					fma4x64(rp[0], rp[1], rp[2], rp[3], wp, kb, &out[r*ldo+c0], ldo, acc)
					continue
				}
				for i := 0; i < mr && acc != 0; i++ {
					copy(tmp[i*pw:i*pw+nr], out[(r+i)*ldo+c0:])
				}
				fma4x64(rp[0], rp[1], rp[2], rp[3], wp, kb, &tmp[0], pw, acc)
				for i := 0; i < mr; i++ {
					copy(out[(r+i)*ldo+c0:(r+i)*ldo+c0+nr], tmp[i*pw:])
				}
			}
		}
	}
}

// padInput returns the layer's quantized input with pad zeros around
// every sample (n×(h+2·pad)×(w+2·pad)×cin), in the slot's scratch, or x
// itself when there is nothing to do.
func (l *linear) padInput(s *slot, x []float32, n int) []float32 {
	if l.pad == 0 && l.q.Kind == QuantNone {
		return x
	}
	hp, wp, c := l.h+2*l.pad, l.w+2*l.pad, l.cin
	s.f32 = growF(s.f32, n*hp*wp*c)
	xp := s.f32
	if l.pad > 0 {
		clear(xp)
	}
	for b := 0; b < n; b++ {
		for iy := 0; iy < l.h; iy++ {
			src := x[(b*l.h+iy)*l.w*c:][:l.w*c]
			dst := xp[((b*hp+iy+l.pad)*wp+l.pad)*c:][:l.w*c]
			if l.q.Kind == QuantNone {
				copy(dst, src)
			} else {
				l.q.Quantize(dst, src)
			}
		}
	}
	return xp
}

// floatDirect computes output pixels [r0, r1) of a convolution from the
// padded input xp without unfolding it: for each tap row ky the kw·cin
// inputs under the kernel are contiguous, so the kernel reads them in
// place and continues the FMA chain of the previous tap row. The chain
// runs over k in the unfolded order, so the result equals floatGEMM's on
// the im2col bit for bit.
func (l *linear) floatDirect(y, xp []float32, r0, r1 int) {
	const pw = floatPanelWidth
	var tmp [4 * pw]float32
	w := l.fp
	wp, seg, plane := l.w+2*l.pad, l.kw*l.cin, l.oh*l.ow
	hp := l.h + 2*l.pad
	for p := 0; p*pw < w.n; p++ {
		c0, nr := p*pw, min(pw, w.n-p*pw)
		for r := r0; r < r1; r += 4 {
			mr := min(4, r1-r)
			var base [4]int
			for i := range base {
				rr := r + min(i, mr-1)
				b, q := rr/plane, rr%plane
				base[i] = ((b*hp+q/l.ow*l.stride)*wp + q%l.ow*l.stride) * l.cin
			}
			dst, ldo := &y[r*l.cout+c0], l.cout
			direct := mr == 4 && nr == pw
			if !direct {
				dst, ldo = &tmp[0], pw
			}
			for ky := 0; ky < l.kh; ky++ {
				off := ky * wp * l.cin
				fma4x64(&xp[base[0]+off], &xp[base[1]+off], &xp[base[2]+off], &xp[base[3]+off],
					&w.data[(p*w.k+ky*seg)*pw], seg, dst, ldo, min(ky, 1))
			}
			for i := 0; i < mr && !direct; i++ {
				copy(y[(r+i)*l.cout+c0:(r+i)*l.cout+c0+nr], tmp[i*pw:])
			}
		}
	}
}
