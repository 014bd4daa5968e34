//go:build !amd64

package bitpack

const (
	cpuHasPopcnt512 = false
	cpuHasVNNI      = false
)

// The assembly kernels exist only on amd64; these are never called.

func xnor4x32(a0, a1, a2, a3, w *uint64, words int, out *int32, ldo, k int) {
	panic("unreachable")
}

func xnor4x32thr(a0, a1, a2, a3, w *uint64, words int, out *uint32, ldo int, thr *int64, flip uint32) {
	panic("unreachable")
}

func and2x32(a0, a1, w *uint64, words int, out *int32, ldo, c1, off0, off1, acc int) {
	panic("unreachable")
}

func vnni4x64(a0, a1, a2, a3 *uint8, w *int8, groups int, out *int32, ldo, acc int) {
	panic("unreachable")
}

func xnor4x32ind(ptrs **uint64, segs, segWords int, w *uint64, out *int32, ldo, k int) {
	panic("unreachable")
}

func xnor4x32indthr(ptrs **uint64, segs, segWords int, w *uint64, out *uint32, ldo int, thr *int64, flip uint32) {
	panic("unreachable")
}
