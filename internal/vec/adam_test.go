package vec

import (
	"math"
	"testing"
)

func TestAdam(t *testing.T) {
	for _, n := range lengths {
		for _, wd := range []float32{0, 1e-2} {
			g, w0 := finite(inputs(n, uint64(n)+21)), finite(inputs(n, uint64(n)+22))
			m0, v0 := finite(inputs(n, uint64(n)+23)), finite(inputs(n, uint64(n)+24))
			for i := range v0 {
				v0[i] = float32(math.Abs(float64(v0[i])))
			}
			p := &AdamParams{B1: 0.9, C1: 1 - 0.9, B2: 0.999, C2: 1 - 0.999, StepSize: 1e-3 / (1 - 0.9*0.9),
				BC2Sqrt: float32(math.Sqrt(1 - 0.999*0.999)), Eps: 1e-8, WD: wd}
			run := func() []float32 {
				w, m, v := append([]float32(nil), w0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
				Adam(w, g, m, v, p)
				return append(append(w, m...), v...)
			}
			bothWays(t, "Adam", run)
			// Against the textbook update, element by element.
			got := run()
			for i := range n {
				gi := g[i]
				if wd != 0 {
					gi += wd * w0[i]
				}
				m := p.B1*m0[i] + p.C1*gi
				v := p.B2*v0[i] + p.C2*gi*gi
				w := w0[i] - p.StepSize*(m/(float32(math.Sqrt(float64(v)))/p.BC2Sqrt+p.Eps))
				if !same(got[i], w) || !same(got[n+i], m) || !same(got[2*n+i], v) {
					t.Fatalf("n=%d wd=%g [%d]: w,m,v = %g,%g,%g, want %g,%g,%g", n, wd, i, got[i], got[n+i], got[2*n+i], w, m, v)
				}
			}
		}
	}
}
