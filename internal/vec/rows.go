package vec

import "math"

// Elementwise activation loops and the per-channel BatchNorm loops over
// NHWC rows (row r, channel j at r·c + j, c = len of the per-channel
// slices). The Go loops round every product explicitly (float32(·)), so no
// build contracts a multiply and an add into one FMA and the assembly,
// which never does, matches them bit for bit.

// ReLU sets y[i] = x[i] when its sign bit is clear and +0 otherwise (−0 and
// negative NaNs included).
func ReLU(y, x []float32) {
	y = y[:len(x)]
	if useAsm && len(x) > 0 {
		reluAVX512(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		b := math.Float32bits(v)
		y[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
	}
}

// Clip sets y[i] = min(max(x[i], lo), hi); a NaN x gives NaN.
func Clip(y, x []float32, lo, hi float32) {
	y = y[:len(x)]
	if useAsm && len(x) > 0 {
		clipAVX512(&y[0], &x[0], len(x), lo, hi)
		return
	}
	for i, v := range x {
		y[i] = min(max(v, lo), hi)
	}
}

// KeepInside sets dst[i] = g[i] where lo < x[i] < hi and +0 elsewhere (NaN x
// included): the gradient of ReLU (lo = 0, hi = +Inf) and HardTanh.
func KeepInside(dst, g, x []float32, lo, hi float32) {
	g, dst = g[:len(x)], dst[:len(x)]
	if useAsm && len(x) > 0 {
		keepInsideAVX512(&dst[0], &g[0], &x[0], len(x), lo, hi)
		return
	}
	for i, v := range x {
		dst[i] = math.Float32frombits(math.Float32bits(g[i]) & mask(v > lo && v < hi))
	}
}

// rowsOf checks that x holds whole rows of c channels and returns the count.
func rowsOf(x []float32, c int) int {
	if c == 0 {
		return 0
	}
	return len(x) / c
}

// ScaleShift sets y = x·a + b per channel, the product rounded first.
func ScaleShift(y, x, a, b []float32) {
	c := len(a)
	rows := rowsOf(x, c)
	x, y, b = x[:rows*c], y[:rows*c], b[:c]
	if useAsm && rows > 0 {
		scaleShiftAVX512(&y[0], &x[0], &a[0], &b[0], rows, c)
		return
	}
	for r := range rows {
		xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
		for j, v := range xr {
			yr[j] = float32(v*a[j]) + b[j]
		}
	}
}

// ChannelSums adds, per channel, Σ u and Σ u·u with u = x − shift over the
// rows of x into d1 and d2 (rows in order).
func ChannelSums(d1, d2, x, shift []float32) {
	c := len(shift)
	rows := rowsOf(x, c)
	x, d1, d2 = x[:rows*c], d1[:c], d2[:c]
	if useAsm && rows > 0 {
		channelSumsAVX512(&d1[0], &d2[0], &x[0], &shift[0], rows, c)
		return
	}
	for r := range rows {
		xr := x[r*c : (r+1)*c]
		for j, v := range xr {
			u := v - shift[j]
			d1[j] += u
			d2[j] += float32(u * u)
		}
	}
}

// ChannelGradSums adds, per channel, Σ g and Σ g·(x − mean)·invstd over the
// rows into d1 and d2 (rows in order): BatchNorm's ∂β and ∂γ.
func ChannelGradSums(d1, d2, g, x, mean, invstd []float32) {
	c := len(mean)
	rows := rowsOf(x, c)
	x, g, d1, d2, invstd = x[:rows*c], g[:rows*c], d1[:c], d2[:c], invstd[:c]
	if useAsm && rows > 0 {
		channelGradSumsAVX512(&d1[0], &d2[0], &g[0], &x[0], &mean[0], &invstd[0], rows, c)
		return
	}
	for r := range rows {
		xr, gr := x[r*c:(r+1)*c], g[r*c:(r+1)*c]
		for j, v := range gr {
			d1[j] += v
			d2[j] += float32(float32(v*(xr[j]-mean[j])) * invstd[j])
		}
	}
}

// BNBackward sets dx = a·(g − b1 − (x − mean)·invstd·b2) per channel, every
// product rounded first: BatchNorm's input gradient in training mode.
func BNBackward(dx, g, x, a, b1, b2, mean, invstd []float32) {
	c := len(a)
	rows := rowsOf(x, c)
	x, g, dx = x[:rows*c], g[:rows*c], dx[:rows*c]
	b1, b2, mean, invstd = b1[:c], b2[:c], mean[:c], invstd[:c]
	if useAsm && rows > 0 {
		p := bnParams{a: &a[0], b1: &b1[0], b2: &b2[0], mean: &mean[0], invstd: &invstd[0]}
		bnBackwardAVX512(&dx[0], &g[0], &x[0], &p, rows, c)
		return
	}
	for r := range rows {
		xr, gr, dr := x[r*c:(r+1)*c], g[r*c:(r+1)*c], dx[r*c:(r+1)*c]
		for j, v := range gr {
			t := float32(float32((xr[j]-mean[j])*invstd[j]) * b2[j])
			dr[j] = float32(a[j] * ((v - b1[j]) - t))
		}
	}
}

// bnParams passes BNBackward's per-channel slices to the assembly.
type bnParams struct {
	a, b1, b2, mean, invstd *float32
}
