package ptq

import (
	"errors"
	"fmt"
	"math"

	"github.com/lowbit/lowbit/ste"
)

// Method picks the clip c of a tensor; the step is s = c/Q_P.
type Method int

const (
	// Max: c = max|x| (nothing is clipped).
	Max Method = iota
	// Percentile: c = the given percentile of |x| (ste.ScalePercentile).
	Percentile
	// MSE: the c among max|x|·j/100 minimising Σ(x − q(x))² (ste.ScaleMSE).
	MSE
	// Entropy: TensorRT's KL-divergence calibration over a 2048-bin histogram.
	Entropy
)

var methodNames = [...]string{"max", "percentile", "mse", "entropy"}

func (m Method) String() string {
	if m < 0 || int(m) >= len(methodNames) {
		return fmt.Sprintf("Method(%d)", int(m))
	}
	return methodNames[m]
}

// ParseMethod resolves a method name.
func ParseMethod(s string) (Method, error) {
	for i, n := range methodNames {
		if n == s {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("%w: method %q (want max, percentile, mse or entropy)", ErrConfig, s)
}

// Errors.
var (
	ErrConfig = errors.New("ptq: bad configuration")
	ErrCalib  = errors.New("ptq: bad calibration data")
)

// Grid is a uniform quantization grid q(x) = round(clip(x/s, −QN, QP))·s.
type Grid struct {
	Bits   int
	Signed bool
}

// Levels returns Q_N and Q_P: signed b bits give 2^(b−1) and 2^(b−1)−1, unsigned 0 and 2^b−1.
func (g Grid) Levels() (qn, qp float32) {
	if g.Signed {
		return float32(int(1) << (g.Bits - 1)), float32(int(1)<<(g.Bits-1) - 1)
	}
	return 0, float32(int(1)<<g.Bits - 1)
}

// ClipOf returns the clip of x for max, percentile (pct in (0,100]) and MSE, using
// ste.Scaled's choice for the grid; Entropy needs a histogram (see EntropyClip).
func ClipOf(m Method, x []float32, g Grid, pct float64) (float32, error) {
	sc := ste.Scaled{Bits: g.Bits, Signed: g.Signed}
	switch m {
	case Max:
		sc.Method = ste.ScaleMax
	case Percentile:
		sc.Method, sc.Percentile = ste.ScalePercentile, pct
	case MSE:
		sc.Method = ste.ScaleMSE
	default:
		return 0, fmt.Errorf("%w: method %v has no per-tensor rule", ErrConfig, m)
	}
	role := ste.Inputs
	if g.Signed {
		role = ste.Weights // signed grid
	}
	return sc.Clip(x, role)
}

// HistBins is the histogram size of the entropy method (TensorRT's 2048).
const HistBins = 2048

// entropyStart is the smallest candidate clip in bins (TensorRT's 128).
const entropyStart = 128

// EntropyClip returns the clip that TensorRT's entropy calibration picks from a
// histogram of |x| with bins of the given width (Migacz, "8-bit Inference with
// TensorRT", GTC 2017; NVIDIA pytorch-quantization's _compute_amax_entropy):
// for each candidate i ≥ 128 bins, P is the histogram's first i bins with the
// tail added to bin i−1, Q is those i bins merged into the grid's levels
// (Q_P + 1 bins) and spread back evenly over their nonzero bins, and the clip
// is i·width for the i of least KL(P‖Q) (the last one on ties). The zero
// bin takes bin 1's count, so ReLU's zeros do not dominate.
func EntropyClip(hist []float64, width float64, g Grid) (float32, error) {
	_, qp := g.Levels()
	nq := int(qp) + 1
	if len(hist) < entropyStart || !(width > 0) {
		return 0, fmt.Errorf("%w: entropy: %d bins of width %g", ErrConfig, len(hist), width)
	}
	bins := append([]float64(nil), hist...)
	bins[0] = bins[1]
	var total float64
	for _, v := range bins {
		total += v
	}
	if total == 0 {
		return 0, fmt.Errorf("%w: entropy: empty histogram", ErrCalib)
	}
	best, bestKL := len(bins), math.Inf(1)
	tail := 0.0
	for _, v := range bins[entropyStart:] {
		tail += v
	}
	q := make([]float64, len(bins))
	for i := entropyStart; i <= len(bins); i++ {
		if i > entropyStart {
			tail -= bins[i-1]
		}
		kl := klAt(bins, i, tail, nq, q)
		if kl <= bestKL {
			best, bestKL = i, kl
		}
	}
	return float32(float64(best) * width), nil
}

// klAt is KL(P‖Q) for the candidate of i bins (tail: the count beyond bin i−1).
func klAt(bins []float64, i int, tail float64, nq int, q []float64) float64 {
	q = q[:i]
	clear(q)
	for j := 0; j < nq; j++ {
		// bins of level j: those whose index maps to j under linspace(0, i, nq+1)
		lo, hi := levelRange(j, i, nq)
		var sum float64
		nz := 0
		for b := lo; b < hi; b++ {
			if bins[b] != 0 {
				sum += bins[b]
				nz++
			}
		}
		for b := lo; b < hi; b++ {
			if bins[b] != 0 {
				q[b] = sum / float64(nz)
			}
		}
	}
	var sp, sq float64
	for b := 0; b < i; b++ {
		p := bins[b]
		if b == i-1 {
			p += tail
		}
		sp += p
		sq += q[b]
	}
	if sq == 0 {
		return math.Inf(1)
	}
	var kl float64
	for b := 0; b < i; b++ {
		p := bins[b]
		if b == i-1 {
			p += tail
		}
		if p == 0 {
			continue
		}
		if q[b] == 0 {
			return math.Inf(1)
		}
		p, qb := p/sp, q[b]/sq
		kl += p * math.Log(p/qb)
	}
	return kl
}

// levelRange returns the bins [lo, hi) of candidate width i that fall in level j:
// bin b belongs to level ⌊b·nq/i⌋ (numpy.digitize over linspace(0, i, nq+1)).
func levelRange(j, i, nq int) (lo, hi int) {
	lo = (j*i + nq - 1) / nq
	hi = ((j+1)*i + nq - 1) / nq
	return lo, min(hi, i)
}
