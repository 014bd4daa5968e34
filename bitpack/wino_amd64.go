//go:build amd64

package bitpack

import "golang.org/x/sys/cpu"

// cpuHasWino says the CPU runs the Winograd int8 path: VNNI for the
// products and AVX-512 BW for the byte transforms.
var cpuHasWino = cpuHasVNNI && cpu.X86.HasAVX512BW

// winoIn computes the transformed input tiles of one tile row (wino.go).
//
//go:noescape
func winoIn(src *uint8, ld, c int, dst *uint8, es, ts, ntiles, z int)

// winoOut writes the 2×2 outputs of ntiles tiles from their products
// (wino.go).
//
//go:noescape
func winoOut(m *int32, es, ts int, corr *int32, d0, d1 *int32, c, ntiles int)
