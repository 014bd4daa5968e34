package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// TestConv2DIntegerEval: an evaluation graph computes a conv whose inputs
// and weights are integer codes times a scale as the packed engine does,
// float32(S_o·D) + b with D the exact integer dot product of the codes
// and levels, bit for bit; a training graph keeps the float GEMM over the
// dequantized values (equal within a few ulps); a layer without input
// codes computes the same in both graphs.
func TestConv2DIntegerEval(t *testing.T) {
	cases := []struct {
		name   string
		wq, iq ste.Quantizer
		exact  bool
	}{
		{"xnor weights, sign inputs", ste.XNOR{}, ste.Sign{}, true},
		{"lsq weights, lsq inputs", ste.LSQ{Bits: 4}, ste.LSQ{Bits: 4}, true},
		{"sign weights, 2-bit dorefa inputs", ste.DoReFa{Bits: 1}, ste.DoReFa{Bits: 2}, true},
		{"xnor weights, float inputs", ste.XNOR{}, nil, false},
	}
	cc := convCase{n: 2, h: 5, w: 4, c: 7, o: 5, k: 3, stride: 1, pad: 1}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 31))
			l := newConv(t, cc, rng, tc.wq, tc.iq)
			x := randSlice(rng, cc.n*cc.h*cc.w*cc.c, -1.5, 2.5)
			var outs [2][]float32
			for j, train := range []bool{false, true} {
				g := layers.NewGraph(train, nil)
				xv := inputVar(g, "x", []int{cc.n, cc.h, cc.w, cc.c}, x)
				y, err := l.Forward(g, xv.node)
				if err != nil {
					t.Fatal(err)
				}
				outs[j] = run(t, g, y)[0]
			}
			eval, train := outs[0], outs[1]
			if !tc.exact {
				for j := range eval {
					if math.Float32bits(eval[j]) != math.Float32bits(train[j]) {
						t.Fatalf("output %d: %g in evaluation, %g in training", j, eval[j], train[j])
					}
				}
				return
			}
			want := integerConv(t, l, x, cc)
			for j := range want {
				if math.Float32bits(eval[j]) != math.Float32bits(want[j]) {
					t.Fatalf("output %d: %g in evaluation, want %g = float32(S·D) + b", j, eval[j], want[j])
				}
				if d := math.Abs(float64(train[j] - want[j])); d > 1e-5*max(1, math.Abs(float64(want[j]))) {
					t.Errorf("output %d: %g in training, %g exact", j, train[j], want[j])
				}
			}
		})
	}
}

// integerConv is the integer semantics computed naively: input codes
// q(x)/s_x, weight levels q(W)/s_w (sign weights: ±1 with s_w = |q(W)| of
// the row), the exact dot product D, then float32(s_w·s_x·D) + b.
func integerConv(t *testing.T, l *layers.Conv2D, x []float32, cc convCase) []float32 {
	t.Helper()
	qw, err := l.QuantizedWeights()
	if err != nil {
		t.Fatal(err)
	}
	iqf, iqp := l.InputQuantizer()
	ps := make([][]float32, len(iqp))
	for i, p := range iqp {
		ps[i] = p.Data()
	}
	qx := make([]float32, len(x))
	if err := iqf.Forward(qx, x, ps, ste.Ctx{Rows: cc.n}); err != nil {
		t.Fatal(err)
	}
	d, _, err := ste.Infer(iqf, ps)
	if err != nil {
		t.Fatal(err)
	}
	sx := d.Scale()
	for i, v := range qx {
		qx[i] = float32(math.Round(float64(v) / sx))
	}
	kk := cc.k * cc.k * cc.c
	sw := make([]float64, cc.o)
	lv := make([]float32, len(qw))
	for o := range cc.o {
		row := qw[o*kk : (o+1)*kk]
		a := math.Abs(float64(row[0]))
		same := true
		for _, v := range row {
			same = same && math.Abs(float64(v)) == a
		}
		if !same {
			wf, wp := l.WeightQuantizer()
			wd, _, err := ste.Infer(wf, [][]float32{wp[0].Data()})
			if err != nil {
				t.Fatal(err)
			}
			a = float64(float32(wd.Scale()))
		}
		sw[o] = a
		for j, v := range row {
			lv[o*kk+j] = float32(math.RoundToEven(float64(v) / a))
		}
	}
	dot, _, _ := naiveConv(qx, lv, nil, cc.n, cc.h, cc.w, cc.c, cc.o, cc.k, cc.stride, cc.pad)
	out := make([]float32, len(dot))
	for i, v := range dot {
		o := i % cc.o
		out[i] = float32(sw[o]*sx*v) + l.B.Data()[o]
	}
	return out
}
