//go:build !amd64

package bitpack

import "unsafe"

// thrBits32 sets bit j (j < 32) when d[j] < thr[j]: thrBits over 32 lanes.
func thrBits32(d, thr *int32) uint32 {
	return uint32(thrBits(unsafe.Slice(d, 32), unsafe.Slice(thr, 32)))
}
