package bitpack

// MaxPool computes a kh×kw max-pool with the given stride and padding
// over the packed map in, writing out (N×OH×OW×C with OH = (H+2·pad−kh)/
// stride+1). The max of ±1 values is +1 when any value is +1; with bit
// 1 = −1 that is the bitwise AND of the packed words (−1 only where all
// are −1). Padded positions are skipped (as −∞ padding). Channel padding
// bits stay zero since AND keeps zeros.
func MaxPool(out, in *Map, kh, kw, stride, pad int) error {
	if err := in.check("MaxPool input"); err != nil {
		return err
	}
	if err := out.check("MaxPool output"); err != nil {
		return err
	}
	if kh < 1 || kw < 1 || stride < 1 || pad < 0 || pad >= kh || pad >= kw {
		return shapeErr("MaxPool: window %d×%d, stride %d, padding %d", kh, kw, stride, pad)
	}
	oh, ow := (in.H+2*pad-kh)/stride+1, (in.W+2*pad-kw)/stride+1
	if oh < 1 || ow < 1 || out.N != in.N || out.H != oh || out.W != ow || out.C != in.C {
		return shapeErr("MaxPool: output %d×%d×%d×%d, want %d×%d×%d×%d", out.N, out.H, out.W, out.C, in.N, oh, ow, in.C)
	}
	wc := in.Words
	for n := 0; n < in.N; n++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				dst := out.Data[((n*oh+y)*ow+x)*wc:][:wc]
				for i := range dst {
					dst[i] = ^uint64(0)
				}
				for ky := 0; ky < kh; ky++ {
					iy := y*stride - pad + ky
					if iy < 0 || iy >= in.H {
						continue
					}
					for kx := 0; kx < kw; kx++ {
						ix := x*stride - pad + kx
						if ix < 0 || ix >= in.W {
							continue
						}
						src := in.Data[((n*in.H+iy)*in.W+ix)*wc:][:wc]
						for i, v := range src {
							dst[i] &= v
						}
					}
				}
			}
		}
	}
	return nil
}
