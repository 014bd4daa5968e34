package ste

// Uniform is the k-bit uniform quantizer on [0,1], DoReFa's building block
// (Zhou et al. 2016, https://arxiv.org/abs/1606.06160):
//
//	q(x)  = round((2^k−1)·clip(x,0,1)) / (2^k−1)
//	q'(x) = 1                                   (identity STE)
type Uniform struct {
	K int // bit width; 0 means 8
}

func (Uniform) Name() string                 { return "uniform" }
func (u Uniform) String() string             { return "uniform(bits=" + itoa(u.bits()) + ")" }
func (u Uniform) Bits() int                  { return u.bits() }
func (u Uniform) Build(Target) (Func, error) { return u, checkBits("uniform", u.bits(), 1, 16) }
func (Uniform) Params() []Param              { return nil }

func (u Uniform) bits() int {
	if u.K == 0 {
		return 8
	}
	return u.K
}

// quantizeK is quantize_k(r) = round((2^k−1)·r)/(2^k−1) for r in [0,1].
func quantizeK(r float32, levels float32) float32 { return round(levels*r) / levels }

func levelsOf(bits int) float32 { return float32(int(1)<<bits - 1) }

func (u Uniform) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	if err := checkLen(y, x); err != nil {
		return err
	}
	n := levelsOf(u.bits())
	for i, v := range x {
		y[i] = quantizeK(clip(v, 0, 1), n)
	}
	return nil
}

func (u Uniform) Grad(wrt int, dst, g, _, _ []float32, _ [][]float32, _ Ctx) error {
	if wrt != 0 {
		return errWRT("uniform", wrt)
	}
	copy(dst, g)
	return nil
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func init() {
	Register("uniform", "round((2^k−1)·clip(x,0,1))/(2^k−1), identity STE; params: bits", func(a Args) (Quantizer, error) {
		b, err := a.Int("bits", 8)
		if err != nil {
			return nil, err
		}
		return Uniform{K: b}, checkBits("uniform", b, 1, 16)
	})
}
