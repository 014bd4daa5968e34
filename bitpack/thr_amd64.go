//go:build amd64

package bitpack

// thrBits32 sets bit j (j < 32) when d[j] < thr[j]: thrBits over 32 lanes
// (AVX-512F; called only on the popcount kernels' path, which has it).
//
//go:noescape
func thrBits32(d, thr *int32) uint32
