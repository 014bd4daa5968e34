package bitpack

import (
	"math"
)

// BNParams describes the float path that FoldBN folds, per channel c:
//
//	y_c = Gamma[c]·((Alpha[c]·dot + Bias[c]) − Mean[c]) / sqrt(Var[c] + Eps) + Beta[c]
//	out_c = sign(y_c)  (+1 when y_c >= 0)
//
// Alpha is the binary layer's output scale (1 when absent) and Bias its
// bias (0 when absent). A nil Alpha or Bias slice means all ones / zeros.
type BNParams struct {
	Alpha, Bias            []float32
	Gamma, Beta, Mean, Var []float32
	Eps                    float32
}

// Thresholds holds one integer threshold and one flip flag per channel:
// out_c = +1 ⇔ (dot >= Thr[c]) XOR Flip[c].
type Thresholds struct {
	Thr  []int32
	Flip []bool
}

// Sign returns the folded sign, +1 or −1, of channel c for the integer dot.
func (t *Thresholds) Sign(c int, dot int32) int {
	if (dot >= t.Thr[c]) != t.Flip[c] {
		return 1
	}
	return -1
}

// bnEval is the reference float formula of BNParams in float64, evaluated
// in exactly the order documented there from the float32 parameters.
func bnEval(alpha, bias, gamma, beta, mean, variance, eps float32, dot float64) float64 {
	return float64(gamma)*((float64(alpha)*dot+float64(bias))-float64(mean))/math.Sqrt(float64(variance)+float64(eps)) + float64(beta)
}

// FoldBN computes per-channel thresholds such that, for every integer dot
// in the int32 range, (dot >= Thr) XOR Flip equals bnEval(dot) >= 0, with
// bnEval the BNParams formula evaluated in float64 in the documented order.
//
// Ties and rounding: y = 0 gives +1 (sign(0) = +1). The float64 formula is
// weakly monotone in dot (increasing when Gamma·Alpha > 0, decreasing when
// < 0), so the threshold is found by bisection on the formula itself
// rather than by rounding −t/s; there is therefore no rounding mismatch at
// the boundary. Increasing: Thr = min{d : y(d) >= 0}, Flip = false.
// Decreasing: Thr = 1 + max{d : y(d) >= 0}, Flip = true (negative
// effective scale). Gamma·Alpha = 0: y is constant, Thr = MinInt32 and
// Flip = y < 0. When no int32 d qualifies the threshold saturates at
// MaxInt32 / MinInt32 (|dot| <= K never reaches them).
func FoldBN(p BNParams) (*Thresholds, error) {
	n := len(p.Gamma)
	if len(p.Beta) != n || len(p.Mean) != n || len(p.Var) != n ||
		(p.Alpha != nil && len(p.Alpha) != n) || (p.Bias != nil && len(p.Bias) != n) {
		return nil, shapeErr("FoldBN: parameter lengths differ from len(Gamma)=%d", n)
	}
	t := &Thresholds{Thr: make([]int32, n), Flip: make([]bool, n)}
	for c := 0; c < n; c++ {
		alpha, bias := float32(1), float32(0)
		if p.Alpha != nil {
			alpha = p.Alpha[c]
		}
		if p.Bias != nil {
			bias = p.Bias[c]
		}
		g, b, m, v := p.Gamma[c], p.Beta[c], p.Mean[c], p.Var[c]
		f := func(d int64) bool { return bnEval(alpha, bias, g, b, m, v, p.Eps, float64(d)) >= 0 }
		s := float64(g) * float64(alpha)
		den := float64(v) + float64(p.Eps)
		if math.IsNaN(s) || math.IsNaN(den) || den <= 0 || math.IsInf(s, 0) ||
			math.IsNaN(float64(b)) || math.IsNaN(float64(m)) || math.IsNaN(float64(bias)) {
			return nil, shapeErr("FoldBN: channel %d: invalid parameters (scale %g, var+eps %g)", c, s, den)
		}
		const lo, hi = math.MinInt32, math.MaxInt32
		switch {
		case s == 0:
			t.Thr[c], t.Flip[c] = math.MinInt32, !f(0)
		case s > 0:
			// smallest d in [lo, hi] with f(d); hi+1 if none.
			l, h := int64(lo), int64(hi)+1
			for l < h {
				mid := l + (h-l)/2
				if f(mid) {
					h = mid
				} else {
					l = mid + 1
				}
			}
			t.Thr[c] = int32(min(l, hi))
		default:
			// largest d in [lo, hi] with f(d); lo−1 if none.
			l, h := int64(lo)-1, int64(hi)
			for l < h {
				mid := l + (h-l+1)/2
				if f(mid) {
					l = mid
				} else {
					h = mid - 1
				}
			}
			t.Thr[c], t.Flip[c] = int32(min(max(l+1, lo), hi)), true
		}
	}
	return t, nil
}

// popThresholds converts Thr to thresholds on the XOR popcount of a
// K-value dot (dot = K − 2·pop): dot >= thr ⇔ pop <= floor((K−thr)/2).
// The output bit (1 = −1) is then (pop > popThr) XOR flip. Lanes past
// len(t.Thr) get a threshold that keeps their bits zero. flip has one
// 32-bit mask per panel.
func (t *Thresholds) popThresholds(k int) (popThr []int64, flip []uint32) {
	n := len(t.Thr)
	np := panelsFor(n)
	popThr = make([]int64, np*PanelWidth)
	flip = make([]uint32, np)
	for i := range popThr {
		if i >= n {
			popThr[i] = math.MaxInt64
			continue
		}
		d := int64(k) - int64(t.Thr[i])
		popThr[i] = d >> 1 // floor division by 2
		if t.Flip[i] {
			flip[i/PanelWidth] |= 1 << uint(i%PanelWidth)
		}
	}
	return popThr, flip
}
