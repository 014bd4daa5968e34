//go:build !amd64

package gemm

// packVector is false: there is no vector copy off amd64.
var packVector = false

// copyPanels is pack_amd64.go's, in scalar code.
func copyPanels(d, src []float32, n, ld, ldd, cnt, w int) {
	for i := range n {
		dr := d[i*ldd : i*ldd+w]
		copy(dr, src[i*ld:i*ld+cnt])
		clear(dr[cnt:])
	}
}

// zeroPanels is pack_amd64.go's, in scalar code.
func zeroPanels(d []float32, n, ldd, w int) {
	for i := range n {
		clear(d[i*ldd : i*ldd+w])
	}
}
