package onnx

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/internal/qfunc"
	"google.golang.org/protobuf/proto"
)

// Input quantizers as lowbit's quantizers describe them: DoReFa's L
// levels on [0, 1], LSQ's step s with codes in [−qn, qp], PACT's clip α
// with L levels.
func levelsQ(l int) bitpack.InputQuant {
	return bitpack.InputQuant(qfunc.Levels(l))
}

func lsqQ(s float32, qn, qp int) bitpack.InputQuant {
	return bitpack.InputQuant(qfunc.Step(s, -qn, qp))
}

func pactQ(alpha float32, l int) bitpack.InputQuant {
	return bitpack.InputQuant(qfunc.Clipped(alpha, l))
}

var inputQuants = []struct {
	name string
	q    bitpack.InputQuant
}{
	{"sign", bitpack.InputQuant{Kind: bitpack.QuantSign}},
	{"uniform-1", levelsQ(1)},
	{"uniform-3", levelsQ(3)},
	{"uniform-15", levelsQ(15)},
	{"uniform-255", levelsQ(255)},
	{"lsq-u2", lsqQ(0.7, 0, 3)},
	{"lsq-u4", lsqQ(0.1, 0, 15)},
	{"lsq-u4-odd", lsqQ(0.0731, 0, 15)},
	{"lsq-u8", lsqQ(0.0217, 0, 255)},
	{"lsq-s8", lsqQ(0.013, 128, 127)},
	{"pact-2", pactQ(2.7, 3)},
	{"pact-4", pactQ(6.1, 15)},
}

// probe returns inputs covering the quantizer's range, every rounding
// boundary (c+½)·step with the 16 float32 neighbours on each side, and
// random values.
func probe(q bitpack.InputQuant) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1e-30, -1e-30, 1e30, -1e30}
	for i := -4096; i <= 4096; i++ {
		x = append(x, float32(i)/512)
	}
	if q.HasCodes() {
		s := float32(q.Scale())
		for c := -q.Offset() - 1; c <= q.MaxCode()-q.Offset()+1; c++ {
			for _, m := range []float32{(float32(c) + 0.5) * s, float32(c) * s} {
				lo, hi := m, m
				for range 16 {
					lo, hi = math.Nextafter32(lo, -1e30), math.Nextafter32(hi, 1e30)
					x = append(x, lo, hi)
				}
				x = append(x, m)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4096 {
		x = append(x, float32(rng.NormFloat64()*4))
	}
	return x
}

// quantModel is a graph that applies q to a [N, P] input.
func quantModel(t *testing.T, q bitpack.InputQuant, p int) []byte {
	t.Helper()
	b := newBuilder("quant")
	y, err := b.input("q", q, Input)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(b.finish(y, []int64{int64(p)}, []int64{int64(p)}, bitpack.ModelInfo{}))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestInputQuantExact: ONNX Runtime computes every input quantizer's
// values exactly as lowbit does (equal float32 values; +0 and −0 compare
// equal) on each quantizer's rounding boundaries and their neighbours.
func TestInputQuantExact(t *testing.T) {
	ortRunner(t)
	for _, tc := range inputQuants {
		t.Run(tc.name, func(t *testing.T) {
			x := probe(tc.q)
			want := make([]float32, len(x))
			tc.q.Quantize(want, x)
			got := ortRun(t, quantModel(t, tc.q, len(x)), optAll, x, 1, 1, len(x))
			if len(got) != len(x) {
				t.Fatalf("%d outputs for %d inputs", len(got), len(x))
			}
			bad := 0
			for i := range x {
				if got[i] != want[i] {
					if bad++; bad <= 5 {
						t.Errorf("x=%g (%#08x): ONNX Runtime %g, lowbit %g", x[i], math.Float32bits(x[i]), got[i], want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d values differ", bad, len(x))
			}
		})
	}
}

// TestProbeSeparatesNaive: the probe holds values on which the naive form
// QuantizeLinear(x, s) would differ from lowbit's LSQ and PACT, so
// TestInputQuantExact can tell the exact form from it.
func TestProbeSeparatesNaive(t *testing.T) {
	naive := 0
	for _, tc := range inputQuants {
		x := probe(tc.q)
		want := make([]float32, len(x))
		tc.q.Quantize(want, x)
		naive += naiveDiffs(tc.q, x, want)
	}
	t.Logf("QuantizeLinear with the code step as its divisor would differ from lowbit on %d probe values", naive)
	if naive == 0 {
		t.Error("the probe has no value where x/s and x·fl(1/s) round differently; it could not tell the exact form from the naive one")
	}
}

// naiveDiffs counts the probe values on which round(clip(x/s))·s, what
// QuantizeLinear(x, s) computes with the code step s as its divisor,
// differs from lowbit's output (quantizers whose value is c·s: LSQ, PACT).
func naiveDiffs(q bitpack.InputQuant, x, want []float32) int {
	lq, err := linearForm(q)
	if err != nil || lq.den != 1 {
		return 0
	}
	n := 0
	for i, v := range x {
		c := float32(math.RoundToEven(float64(min(max(v/lq.num, float32(lq.lo)), float32(lq.hi)))))
		if c*lq.num != want[i] {
			n++
		}
	}
	return n
}

// TestInputQuantRefused: more codes than uint8 holds have no exact
// QuantizeLinear form; the error names the layer and the quantizer.
func TestInputQuantRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    bitpack.InputQuant
	}{
		{"lsq-u9", lsqQ(0.01, 0, 511)},
		{"lsq-s9", lsqQ(0.01, 256, 255)},
		{"uniform-16bit", levelsQ(65535)},
		{"pact-9", pactQ(3, 511)},
		{"unknown", bitpack.InputQuant{Kind: "log2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newBuilder("m").input("conv5", tc.q, Input)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), "layer conv5") {
				t.Errorf("error %q does not name the layer", err)
			}
		})
	}
}
