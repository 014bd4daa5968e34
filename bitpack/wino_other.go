//go:build !amd64

package bitpack

const cpuHasWino = false

// The Winograd transforms exist only on amd64; these are never called.

func winoIn(src *uint8, ld, c int, dst *uint8, es, ts, ntiles, z int) {
	panic("unreachable")
}

func winoOut(m *int32, es, ts int, corr *int32, d0, d1 *int32, c, ntiles int) {
	panic("unreachable")
}
