package optim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"
)

var stateFactories = []struct {
	name string
	mk   func() Optimizer
}{
	{"sgd", func() Optimizer { return &SGD{} }},
	{"sgd momentum", func() Optimizer { return &SGD{Momentum: 0.9, WeightDecay: 1e-4} }},
	{"sgd nesterov", func() Optimizer { return &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, DecayAll: true} }},
	{"adam", func() Optimizer { return NewAdam() }},
	{"adamw", func() Optimizer { return NewAdamW(1e-2) }},
	{"bop", func() Optimizer { return &Bop{Gamma: 0.1, Threshold: 1e-3, Inner: NewAdam()} }},
	{"bop via New", func() Optimizer {
		o, err := New("bop", Config{Gamma: 0.2, Inner: &SGD{Momentum: 0.9}})
		if err != nil {
			panic(err)
		}
		return o
	}},
}

// stateParams returns a small model: weights, a binary layer, BN and an
// LSQ-like step, with gradients drawn for steps steps from a fixed seed.
func stateParams() ([]*Param, [][][]float32) {
	r := rand.New(rand.NewPCG(7, 7))
	params := []*Param{
		{Name: "fc.w", Data: make([]float32, 12), Kind: Weight},
		{Name: "fc.b", Data: make([]float32, 3), Kind: Bias},
		{Name: "bin.w", Data: make([]float32, 16), Kind: Weight, Binary: true},
		{Name: "bn.scale", Data: make([]float32, 4), Kind: BNScale},
		{Name: "lsq.s", Data: make([]float32, 1), Kind: QuantParam},
	}
	for _, p := range params {
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64())
			if p.Binary {
				p.Data[i] = float32(math.Copysign(1, float64(p.Data[i])))
			}
		}
		p.Grad = make([]float32, len(p.Data))
	}
	grads := make([][][]float32, 5)
	for s := range grads {
		grads[s] = make([][]float32, len(params))
		for j, p := range params {
			grads[s][j] = make([]float32, len(p.Data))
			for i := range grads[s][j] {
				grads[s][j][i] = float32(r.NormFloat64())
			}
		}
	}
	return params, grads
}

func runSteps(t *testing.T, o Optimizer, params []*Param, grads [][][]float32, from, to int) {
	t.Helper()
	sched := Cosine{Base: 0.1, Floor: 1e-3, Steps: 5}
	for s := from; s < to; s++ {
		for j, p := range params {
			copy(p.Grad, grads[s][j])
		}
		if err := o.Step(params, sched.LR(s, 2)); err != nil {
			t.Fatal(err)
		}
		if _, isBop := o.(*Bop); !isBop {
			if err := ClipLatent(params, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestStateResumeBitIdentical(t *testing.T) {
	for _, f := range stateFactories {
		t.Run(f.name, func(t *testing.T) {
			want, grads := stateParams()
			straight := f.mk()
			runSteps(t, straight, want, grads, 0, 5)

			got, _ := stateParams()
			first := f.mk()
			runSteps(t, first, got, grads, 0, 2)
			saved, err := first.State()
			if err != nil {
				t.Fatal(err)
			}
			resumed := f.mk()
			if err := resumed.SetState(saved); err != nil {
				t.Fatal(err)
			}
			runSteps(t, resumed, got, grads, 2, 5)

			for j := range want {
				for i := range want[j].Data {
					if a, b := math.Float32bits(got[j].Data[i]), math.Float32bits(want[j].Data[i]); a != b {
						t.Errorf("%s[%d]: resumed %08x, straight %08x", want[j].Name, i, a, b)
					}
				}
			}
			s1, _ := straight.State()
			s2, _ := resumed.State()
			if !bytes.Equal(s1, s2) {
				t.Error("final states differ")
			}
		})
	}
}

// reseal replaces the checksum after editing a state.
func reseal(b []byte) []byte {
	body := b[:len(b)-4]
	return binary.LittleEndian.AppendUint32(clone(body), crc32.ChecksumIEEE(body))
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func TestSetStateCorrupt(t *testing.T) {
	params, grads := stateParams()
	src := NewAdam()
	runSteps(t, src, params, grads, 0, 2)
	good, err := src.State()
	if err != nil {
		t.Fatal(err)
	}
	sgdState, _ := (&SGD{}).State()
	flip := func(i int) []byte { b := clone(good); b[i] ^= 0x10; return b }

	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"short", good[:6]},
		{"truncated", good[:len(good)-1]},
		{"truncated middle", reseal(good[:len(good)/2])},
		{"bit flip in header", flip(2)},
		{"bit flip in values", flip(len(good) / 2)},
		{"bit flip in checksum", flip(len(good) - 1)},
		{"bad magic", reseal(append([]byte("XBOS"), good[4:]...))},
		{"bad version", func() []byte { b := clone(good); b[4] = 9; return reseal(b) }()},
		{"other optimizer", sgdState},
		{"trailing bytes", reseal(append(clone(good[:len(good)-4]), 0, 0, 0, 0, 0))},
		{"wrong slot count", encodeState("adam", stateTable{"w": {step: 1, slots: [][]float32{{1}}}}, nil)},
		{"unexpected inner", encodeState("adam", nil, []byte{1})},
		{"huge count", reseal(append(append([]byte(stateMagic), stateVersion, 4, 'a', 'd', 'a', 'm',
			0xff, 0xff, 0xff, 0xff, 0x0f), 0, 0, 0, 0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := NewAdam()
			runSteps(t, dst, params, grads, 0, 1)
			before, _ := dst.State()
			if err := dst.SetState(tc.b); !errors.Is(err, ErrState) {
				t.Fatalf("err = %v, want ErrState", err)
			}
			after, _ := dst.State()
			if !bytes.Equal(before, after) {
				t.Error("failed SetState changed the state")
			}
		})
	}
}

func TestBopSetStateInner(t *testing.T) {
	withInner, _ := (&Bop{Gamma: 1e-4, Inner: NewAdam()}).State()
	without, _ := (&Bop{Gamma: 1e-4}).State()
	if err := (&Bop{Gamma: 1e-4}).SetState(withInner); !errors.Is(err, ErrState) {
		t.Errorf("inner state into Bop without Inner: err = %v", err)
	}
	if err := (&Bop{Gamma: 1e-4, Inner: NewAdam()}).SetState(without); !errors.Is(err, ErrState) {
		t.Errorf("no inner state into Bop with Inner: err = %v", err)
	}
	if err := (&Bop{Gamma: 1e-4, Inner: &SGD{}}).SetState(withInner); !errors.Is(err, ErrState) {
		t.Errorf("adam inner state into sgd inner: err = %v", err)
	}
}

func TestStateShapeMismatch(t *testing.T) {
	o := &SGD{Momentum: 0.9}
	small := &Param{Name: "w", Data: []float32{1}, Grad: []float32{1}}
	if err := o.Step([]*Param{small}, 0.1); err != nil {
		t.Fatal(err)
	}
	b, _ := o.State()
	fresh := &SGD{Momentum: 0.9}
	if err := fresh.SetState(b); err != nil {
		t.Fatal(err)
	}
	big := &Param{Name: "w", Data: []float32{1, 2}, Grad: []float32{1, 1}}
	if err := fresh.Step([]*Param{big}, 0.1); !errors.Is(err, ErrShape) {
		t.Errorf("err = %v, want ErrShape", err)
	}
}

func FuzzSetState(f *testing.F) {
	for _, fac := range stateFactories {
		params, grads := stateParams()
		o := fac.mk()
		for s := range 2 {
			for j, p := range params {
				copy(p.Grad, grads[s][j])
			}
			if err := o.Step(params, 0.01); err != nil {
				f.Fatal(err)
			}
		}
		b, err := o.State()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fac := range stateFactories {
			o := fac.mk()
			if err := o.SetState(b); err != nil {
				if !errors.Is(err, ErrState) {
					t.Fatalf("%s: err = %v, want ErrState", fac.name, err)
				}
				continue
			}
			// Whatever decodes must survive a second round trip unchanged.
			b1, err := o.State()
			if err != nil {
				t.Fatal(err)
			}
			o2 := fac.mk()
			if err := o2.SetState(b1); err != nil {
				t.Fatalf("%s: re-encoded state rejected: %v", fac.name, err)
			}
			if b2, _ := o2.State(); !bytes.Equal(b1, b2) {
				t.Fatalf("%s: state not stable", fac.name)
			}
		}
	})
}
