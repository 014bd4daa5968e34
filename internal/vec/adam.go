package vec

import "math"

// AdamParams are the per-tensor constants of one Adam step.
type AdamParams struct {
	B1, C1, B2, C2 float32 // β1, 1−β1, β2, 1−β2
	StepSize       float32 // lr / (1 − β1^t)
	BC2Sqrt        float32 // √(1 − β2^t)
	Eps            float32
	WD             float32 // L2 weight decay added to the gradient (0: none)
}

// Adam updates data, m and v in place (torch.optim.Adam's order):
//
//	g' = g + WD·w   (when WD ≠ 0)
//	m  = β1·m + (1−β1)·g'
//	v  = β2·v + (1−β2)·g'·g'
//	w −= StepSize·(m / (√v/BC2Sqrt + Eps))
//
// with every product rounded to float32 (no FMA) and the square root
// correctly rounded, so the assembly and Go loops agree bit for bit.
func Adam(data, grad, m, v []float32, p *AdamParams) {
	n := len(data)
	grad, m, v = grad[:n], m[:n], v[:n]
	if useAsm && n > 0 {
		adamAVX512(&data[0], &grad[0], &m[0], &v[0], n, p)
		return
	}
	l2 := p.WD != 0
	for i, g := range grad {
		if l2 {
			g += float32(p.WD * data[i])
		}
		m[i] = float32(p.B1*m[i]) + float32(p.C1*g)
		v[i] = float32(p.B2*v[i]) + float32(float32(p.C2*g)*g)
		denom := float32(math.Sqrt(float64(v[i])))/p.BC2Sqrt + p.Eps
		data[i] -= float32(p.StepSize * (m[i] / denom))
	}
}
