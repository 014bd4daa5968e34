package ste

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	"github.com/lowbit/lowbit/internal/parallel"
	"github.com/lowbit/lowbit/internal/qfunc"
	"github.com/lowbit/lowbit/internal/vec"
)

// DoReFaGrad is DoReFa-Net's G-bit gradient quantizer (Zhou et al. 2016,
// https://arxiv.org/abs/1606.06160), following fg in the authors' tensorpack dorefa.py.
// Place it on a quantized layer's output. The forward pass is the identity; the backward
// pass quantizes the upstream gradient dr per sample (row) with uniform noise:
//
//	q(x)  = x
//	m     = max|dr| over the row
//	g_q   = 2m·[ quantize_G( clip(dr/(2m) + ½ + N, 0, 1) ) − ½ ],  N ~ U(−½, ½)/(2^G−1)
//	quantize_G(r) = round((2^G−1)·r)/(2^G−1)
//
// The noise makes the rounding stochastic, so E[g_q] = dr. A row with m = 0 stays 0
// (tensorpack divides by zero there).
//
// The noise is reproducible: on call n of a built Func (counting from 0, one per
// backward pass) row r draws it from ChaCha8 keyed by (Seed, n, Ctx.Row0+r), so a
// data-parallel rank holding rows [Row0, Row0+Rows) of the global batch draws what
// one process would. The Func exposes n through State and SetState, so a checkpoint
// that saves and restores it resumes bit-exactly. Funcs built from the same value
// share the sequence, so give each layer its own Seed.
//
// Bits is the gradient bit width G; the forward values are not quantized, which the
// optional method Identity reports (and BitsFor, which returns 32).
type DoReFaGrad struct {
	Bits int    `q:"bits,default=6,min=1,max=16,show"` // gradient bit width G
	Seed uint64 `q:"seed,show"`                        // noise seed
}

func (DoReFaGrad) Name() string     { return "dorefagrad" }
func (d DoReFaGrad) String() string { return Format(d) }
func (DoReFaGrad) Symmetric() bool  { return false }
func (DoReFaGrad) DataInit() bool   { return false }

// BitsFor is 32 on both roles: the forward values pass through unquantized.
func (DoReFaGrad) BitsFor(Role) int { return 32 }

// Reseed returns d with salt XORed into its seed, so each layer draws its own noise.
func (d DoReFaGrad) Reseed(salt uint64) Quantizer {
	d.Seed ^= salt
	return d
}

// Identity reports that the forward pass is the identity (no levels to check).
func (DoReFaGrad) Identity() bool { return true }

func (d DoReFaGrad) Build(t Target) (Func, error) {
	d, err := Resolve(d)
	if err != nil {
		return nil, err
	}
	if err := checkShape("dorefagrad", t); err != nil {
		return nil, err
	}
	return &dorefaGradFunc{levels: float32(levelsOf(d.Bits)), seed: d.Seed}, nil
}

type dorefaGradFunc struct {
	stateless
	levels float32 // 2^G − 1
	seed   uint64
	calls  atomic.Uint64 // number of backward passes so far
}

// State returns the number of backward passes so far: the noise counter.
func (f *dorefaGradFunc) State() uint64 { return f.calls.Load() }

// SetState sets the noise counter, e.g. from a checkpoint.
func (f *dorefaGradFunc) SetState(n uint64) { f.calls.Store(n) }

// Identity reports that the forward pass is the identity.
func (f *dorefaGradFunc) Identity() bool { return true }

// Infer: the forward pass is the identity.
func (f *dorefaGradFunc) Infer([][]float32) (qfunc.Desc, error) { return qfunc.Desc{}, nil }

func (f *dorefaGradFunc) Forward(y, x []float32, _ [][]float32, _ Ctx) error {
	if err := checkLenOf("dorefagrad", y, x); err != nil {
		return err
	}
	copy(y, x)
	return nil
}

// seedNoise keys rng for global row row of call n.
func (f *dorefaGradFunc) seedNoise(rng *rand.ChaCha8, n uint64, row int) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], f.seed)
	binary.LittleEndian.PutUint64(key[8:], n)
	binary.LittleEndian.PutUint64(key[16:], uint64(row))
	copy(key[24:], "dorefagq")
	rng.Seed(key)
}

// Grad quantizes each row of g with its own noise stream, so the rows run in
// parallel chunks with the same result.
func (f *dorefaGradFunc) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, c Ctx) error {
	if wrt != 0 {
		return errWRT("dorefagrad", wrt)
	}
	if err := checkGradLen("dorefagrad", dst, g, x); err != nil {
		return err
	}
	n, err := groupLen("dorefagrad", len(g), true, c)
	if err != nil {
		return err
	}
	call := f.calls.Add(1) - 1
	parallel.Rows(len(g)/n, n, func(_, lo, hi int) {
		var rng rand.ChaCha8
		for r := lo; r < hi; r++ {
			f.seedNoise(&rng, call, c.Row0+r)
			f.quantizeRow(dst[r*n:(r+1)*n], g[r*n:(r+1)*n], &rng)
		}
	})
	return nil
}

// noiseBlock is the number of noise values drawn ahead of one vector loop.
const noiseBlock = 256

// quantizeRow writes the noisy G-bit quantization of one row, one noise
// value per element in order. The row's keyed ChaCha8 stream seeds a
// SplitMix64 generator (Steele, Lea and Flood 2014), each of whose 64-bit
// outputs gives two 24-bit uniforms: drawing every value from ChaCha8 was
// a quarter of a DoReFa-g6 ResNet-20 step.
func (f *dorefaGradFunc) quantizeRow(out, row []float32, rng *rand.ChaCha8) {
	m := maxAbs(row)
	if m == 0 {
		clear(out)
		return
	}
	inv := 1 / (2 * m)
	state := rng.Uint64()
	var u [noiseBlock]float32
	for off := 0; off < len(row); off += noiseBlock {
		k := min(noiseBlock, len(row)-off)
		for i := 0; i < k; i += 2 {
			z := splitMix64(&state)
			// U[0,1) with 24 bits; int32 (exact, < 2^24) converts in one instruction.
			u[i] = float32(int32(z>>40)) * 0x1p-24
			u[i+1] = float32(int32(z>>16&0xFFFFFF)) * 0x1p-24 // u has room: noiseBlock is even
		}
		vec.NoisyLevels(out[off:off+k], row[off:off+k], u[:k], inv, f.levels, 2*m)
	}
}

// splitMix64 advances the SplitMix64 state and returns its next output.
func splitMix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func init() {
	Register(DoReFaGrad{}, "identity forward; backward quantizes the gradient per sample to G bits with uniform noise (DoReFa fg)")
}
