//go:build amd64

package bitpack

import "golang.org/x/sys/cpu"

var (
	cpuHasPopcnt512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ
	cpuHasVNNI      = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI
)

// xnor4x32 computes a 4×32 tile: out[i*ldo+j] = k − 2·Σ popcount(a_i XOR w_j)
// over words words, with w one panel.
//
//go:noescape
func xnor4x32(a0, a1, a2, a3, w *uint64, words int, out *int32, ldo, k int)

// xnor4x32thr is xnor4x32 with a fused threshold: the 32 bits
// (pop_ij > thr[j]) XOR flip are stored as a uint32 at out+i*ldo bytes.
//
//go:noescape
func xnor4x32thr(a0, a1, a2, a3, w *uint64, words int, out *uint32, ldo int, thr *int64, flip uint32)

// and2x32 computes a bit-serial 2×32 tile for 2-plane activations (planes
// interleaved per word) and one weight plane:
// t = Σ popcount(x0 AND w) + 2·Σ popcount(x1 AND w); out[i*ldo+j] =
// c1·t + (acc != 0 ? out[i*ldo+j] : off_i).
//
//go:noescape
func and2x32(a0, a1, w *uint64, words int, out *int32, ldo, c1, off0, off1, acc int)

// vnni4x64 computes a 4×64 u8×s8 tile over groups groups of 4 bytes:
// out[i*ldo+j] = Σ_g Σ_b a_i[4g+b]·w[g][j][b], wrapping int32 (VPDPBUSD),
// added to out's values when acc != 0.
//
//go:noescape
func vnni4x64(a0, a1, a2, a3 *uint8, w *int8, groups int, out *int32, ldo, acc int)

// xnor4x32ind is xnor4x32 over rows given as segs segments of segWords
// words: row i of segment s starts at ptrs[s*4+i] (the implicit GEMM of
// a convolution, one segment per kernel row).
//
//go:noescape
func xnor4x32ind(ptrs **uint64, segs, segWords int, w *uint64, out *int32, ldo, k int)

// xnor4x32indthr is xnor4x32thr over segmented rows, as xnor4x32ind.
//
//go:noescape
func xnor4x32indthr(ptrs **uint64, segs, segWords int, w *uint64, out *uint32, ldo int, thr *int64, flip uint32)
