package optim

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/lowbit/lowbit/internal/vec"
)

// ClipGradNorm rescales all gradients together so that their global L2 norm
// is at most maxNorm, as torch.nn.utils.clip_grad_norm_ does:
//
//	n = √(Σ_p Σ_i g_pi²),  g ← g · maxNorm/(n + 1e-6)  if that factor is < 1
//
// It returns n, the norm before clipping, summed in float64. Gradients are
// left alone when maxNorm ≤ 0 or n is not finite; Step then names the bad
// parameter.
func ClipGradNorm(params []*Param, maxNorm float32) float32 {
	var sum float64
	for _, p := range params {
		if p == nil {
			continue
		}
		for _, g := range p.Grad {
			sum += float64(g) * float64(g)
		}
	}
	n := math.Sqrt(sum)
	if maxNorm > 0 && !math.IsNaN(n) && !math.IsInf(n, 0) {
		if c := float64(maxNorm) / (n + 1e-6); c < 1 {
			s := float32(c)
			for _, p := range params {
				if p == nil {
					continue
				}
				for i := range p.Grad {
					p.Grad[i] *= s
				}
			}
		}
	}
	return float32(n)
}

// HasNonFinite reports the name of the first parameter whose gradient holds
// a NaN or ±Inf.
func HasNonFinite(params []*Param) (name string, bad bool) {
	for _, p := range params {
		if p == nil {
			continue
		}
		for _, g := range p.Grad {
			if !finite32(g) {
				return p.Name, true
			}
		}
	}
	return "", false
}

// ClipLatent clips every Binary parameter to [−bound, bound] in place. Run it
// after each optimizer step; BNN (Courbariaux et al. 2016,
// https://arxiv.org/abs/1602.02830) and Larq clip latent weights to [−1, 1],
// beyond which the clipped STE passes no gradient and the weight would stop
// moving. Other parameters are not touched.
func ClipLatent(params []*Param, bound float32) error {
	if !(bound > 0) || math.IsInf(float64(bound), 0) {
		return fmt.Errorf("optim: ClipLatent: bound %v: %w", bound, ErrConfig)
	}
	for _, p := range params {
		if p == nil || !p.Binary {
			continue
		}
		vec.Clip(p.Data, p.Data, -bound, bound) // min(max(w, -bound), bound), vectorized
	}
	return nil
}

// FlipCounter measures how many binary weights change sign over a period,
// usually an epoch: the flip ratio that Helwegen et al. 2019 use to watch
// BNN training converge. Call Snapshot at the start and Ratio (or Count) at
// the end. sign(0) counts as +1. The zero value is ready to use.
type FlipCounter struct {
	signs map[string][]uint64 // bit i set: Data[i] < 0
	sizes map[string]int
}

// Snapshot records sign(w) for every Binary parameter, replacing any
// earlier snapshot.
func (c *FlipCounter) Snapshot(params []*Param) {
	c.signs = make(map[string][]uint64)
	c.sizes = make(map[string]int)
	for _, p := range params {
		if p == nil || !p.Binary {
			continue
		}
		c.signs[p.Name] = signBits(p.Data, nil)
		c.sizes[p.Name] = len(p.Data)
	}
}

func signBits(w []float32, dst []uint64) []uint64 {
	n := (len(w) + 63) / 64
	if cap(dst) < n {
		dst = make([]uint64, n)
	}
	dst = dst[:n]
	clear(dst)
	for i, v := range w {
		if v < 0 {
			dst[i/64] |= 1 << (i % 64)
		}
	}
	return dst
}

// Count returns the number of Binary weights whose sign differs from the
// snapshot, and the number of Binary weights. A Binary parameter missing
// from the snapshot, or whose length changed, is an error.
func (c *FlipCounter) Count(params []*Param) (flipped, total int, err error) {
	var cur []uint64
	for _, p := range params {
		if p == nil || !p.Binary {
			continue
		}
		old, ok := c.signs[p.Name]
		if !ok {
			return 0, 0, fmt.Errorf("optim: FlipCounter: param %q has no snapshot: %w", p.Name, ErrConfig)
		}
		if c.sizes[p.Name] != len(p.Data) {
			return 0, 0, fmt.Errorf("optim: FlipCounter: param %q: %d weights, snapshot has %d: %w",
				p.Name, len(p.Data), c.sizes[p.Name], ErrShape)
		}
		cur = signBits(p.Data, cur)
		for i := range cur {
			flipped += bits.OnesCount64(cur[i] ^ old[i])
		}
		total += len(p.Data)
	}
	return flipped, total, nil
}

// Ratio returns flipped/total from Count, or 0 when there are no Binary
// weights.
func (c *FlipCounter) Ratio(params []*Param) (float64, error) {
	f, t, err := c.Count(params)
	if err != nil || t == 0 {
		return 0, err
	}
	return float64(f) / float64(t), nil
}
