package bitpack

import (
	"github.com/lowbit/lowbit/internal/container"

	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/lowbit/lowbit/internal/qfunc"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the FuzzModel seed corpus in testdata/fuzz")

func randF(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func randLevels(rng *rand.Rand, n, lo, hi int, nonzero bool) []int8 {
	v := make([]int8, n)
	for i := range v {
		for {
			v[i] = int8(lo + rng.IntN(hi-lo+1))
			if !nonzero || v[i] != 0 {
				break
			}
		}
	}
	return v
}

func bn(rng *rand.Rand, name string, c int) LayerSpec {
	g := randF(rng, c, 0.5)
	v := randF(rng, c, 1)
	for i := range v {
		v[i] = v[i]*v[i] + 0.5
		g[i] += 1
	}
	return LayerSpec{Kind: LayerBatchNorm, Name: name, Gamma: g, Beta: randF(rng, c, 0.3), Mean: randF(rng, c, 0.5), Var: v, Eps: 1e-5}
}

// testSpec is a small model that uses every layer kind and kernel: xnor
// with zero padding over two weight panels, bit-serial with binary and
// DoReFa 2-bit weights, int8 with signed LSQ (input offset), PACT and
// 4-bit uniform inputs, float, residual blocks with and without shortcut.
func testSpec(seed uint64) Spec {
	rng := rand.New(rand.NewPCG(seed, 99))
	conv := func(name, kernel string, in, out, k, pad int, q InputQuant, w WeightSpec) LayerSpec {
		return LayerSpec{Kind: LayerConv, Name: name, Kernel: kernel, In: in, Out: out, KH: k, KW: k, Stride: 1, Pad: pad, Input: q, Weights: w}
	}
	signW := func(n, rows int, perRow bool) WeightSpec {
		s := []float32{0.05}
		if perRow {
			s = make([]float32, rows)
			for i := range s {
				s[i] = 0.01 + rng.Float32()*0.1
			}
		}
		return WeightSpec{Enc: WeightsSign, Bits: 1, Levels: randLevels(rng, n, -1, 1, true), Scale: s}
	}
	c1 := conv("c1", KernelFloat, 3, 8, 3, 1, InputQuant{}, WeightSpec{Enc: WeightsF32, Float: randF(rng, 8*27, 0.3)})
	c1.Bias = randF(rng, 8, 0.1)
	c2 := conv("c2", KernelXNOR, 8, 40, 3, 1, InputQuant{Kind: QuantSign}, signW(40*72, 40, true))
	c3 := conv("c3", KernelBitSerial, 40, 40, 3, 1, InputQuant(qfunc.Levels(3)), signW(40*360, 40, false))
	c4 := conv("c4", KernelBitSerial, 40, 16, 1, 0, InputQuant(qfunc.Levels(3)),
		WeightSpec{Enc: WeightsDoReFa, Bits: 2, Levels: randLevels(rng, 16*40, 0, 3, false), Scale: []float32{1.0 / 3}})
	c5 := conv("c5", KernelInt8, 16, 16, 3, 1, InputQuant(qfunc.Step(0.11, -8, 7)),
		WeightSpec{Enc: WeightsInt, Bits: 4, Levels: randLevels(rng, 16*144, -8, 7, false), Scale: []float32{0.02}})
	c6 := conv("c6", KernelInt8, 16, 16, 1, 0, InputQuant(qfunc.Clipped(2.5, 15)),
		WeightSpec{Enc: WeightsInt, Bits: 8, Levels: randLevels(rng, 16*16, -128, 127, false), Scale: []float32{0.003}})
	d1 := LayerSpec{Kind: LayerDense, Name: "d1", Kernel: KernelInt8, In: 16, Out: 10, Input: InputQuant(qfunc.Levels(15)),
		Weights: signW(160, 10, true), Bias: randF(rng, 10, 0.1)}
	return Spec{
		Info:    ModelInfo{Name: "test", Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 0.5, 0.5}},
		Input:   []int{6, 6, 3},
		Classes: 10,
		Layers: []LayerSpec{
			c1, bn(rng, "bn1", 8), {Kind: LayerHardTanh, Name: "ht1"},
			c2, bn(rng, "bn2", 40), {Kind: LayerReLU, Name: "relu2"},
			{Kind: LayerResidual, Name: "res1", Body: []LayerSpec{c3, bn(rng, "bn3", 40), {Kind: LayerReLU, Name: "relu3"}}},
			{Kind: LayerMaxPool, Name: "pool", Size: 2, Stride: 2},
			c4, bn(rng, "bn4", 16),
			{Kind: LayerResidual, Name: "res2", Body: []LayerSpec{c5}, Shortcut: []LayerSpec{c6}},
			{Kind: LayerAvgPool, Name: "gap", Global: true},
			{Kind: LayerFlatten, Name: "flat"},
			d1,
		},
	}
}

// floatSpec is s with every conv and dense layer on the float kernel.
func floatSpec(s Spec) Spec {
	var conv func([]LayerSpec) []LayerSpec
	conv = func(ls []LayerSpec) []LayerSpec {
		if ls == nil {
			return nil
		}
		out := make([]LayerSpec, len(ls))
		for i, l := range ls {
			if l.Kind == LayerConv || l.Kind == LayerDense {
				l.Kernel = KernelFloat
			}
			l.Body, l.Shortcut = conv(l.Body), conv(l.Shortcut)
			out[i] = l
		}
		return out
	}
	s.Layers = conv(s.Layers)
	return s
}

func testModel(t testing.TB) (*Model, []float32, int) {
	t.Helper()
	m, err := NewModel(testSpec(1))
	if err != nil {
		t.Fatal(err)
	}
	const n = 37
	return m, randF(rand.New(rand.NewPCG(5, 5)), n*6*6*3, 1), n
}

func maxRel(a, b []float32, classes int) float64 {
	worst := 0.0
	for r := 0; r < len(a)/classes; r++ {
		var scale, diff float64
		for j := r * classes; j < (r+1)*classes; j++ {
			scale = max(scale, math.Abs(float64(b[j])))
			diff = max(diff, math.Abs(float64(a[j]-b[j])))
		}
		worst = max(worst, diff/max(scale, 1e-30))
	}
	return worst
}

// TestEngineKernels: the integer kernels give the float kernel's logits
// (same quantized values, float accumulation), and their accumulators
// equal a naive integer convolution of the codes and levels.
func TestEngineKernels(t *testing.T) {
	m, x, n := testModel(t)
	fm, err := NewModel(floatSpec(testSpec(1)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fm.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	if r := maxRel(got, want, 10); r > 1e-4 {
		t.Errorf("packed vs float kernels: max relative logit difference %g", r)
	}
	specs := map[string]LayerSpec{}
	var walk func([]LayerSpec)
	walk = func(ls []LayerSpec) {
		for _, l := range ls {
			specs[l.Name] = l
			walk(l.Body)
			walk(l.Shortcut)
		}
	}
	walk(m.Spec().Layers)
	traced := 0
	_, err = m.Trace(x, n, func(tr Trace) error {
		if tr.Acc == nil {
			return nil
		}
		traced++
		ref := naiveAcc(specs[tr.Name], tr)
		for i := range ref {
			if int64(tr.Acc[i]) != ref[i] {
				return fmt.Errorf("%s (%s): acc[%d] = %d, naive %d", tr.Name, tr.Kernel, i, tr.Acc[i], ref[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if traced != 6 {
		t.Errorf("traced %d integer layers, want 6", traced)
	}
}

// naiveAcc is Σ code(x)·level(w) with zero padding, from the spec alone.
func naiveAcc(l LayerSpec, tr Trace) []int64 {
	in := tr.InDims
	h, w, c := 1, 1, l.In
	if l.Kind == LayerDense {
		l.KH, l.KW, l.Stride = 1, 1, 1
	}
	if l.Kind == LayerConv {
		h, w, c = in[0], in[1], in[2]
	}
	xc := make([]int64, len(tr.In))
	switch l.Input.Kind {
	case QuantSign:
		for i, v := range tr.In {
			xc[i] = 1
			if v < 0 {
				xc[i] = -1
			}
		}
	default:
		q := make([]float32, len(tr.In))
		l.Input.Quantize(q, tr.In)
		for i, v := range q {
			xc[i] = int64(math.Round(float64(v) / l.Input.Scale()))
		}
	}
	k := l.KH * l.KW * c
	lv := make([]int64, len(l.Weights.Levels))
	for i, v := range l.Weights.Levels {
		lv[i] = int64(v)
		if l.Weights.Enc == WeightsDoReFa {
			lv[i] = 2*int64(v) - (1<<l.Weights.Bits - 1)
		}
	}
	oh, ow := (h+2*l.Pad-l.KH)/l.Stride+1, (w+2*l.Pad-l.KW)/l.Stride+1
	out := make([]int64, tr.N*oh*ow*l.Out)
	for b := 0; b < tr.N; b++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				for o := 0; o < l.Out; o++ {
					var acc int64
					for ky := 0; ky < l.KH; ky++ {
						for kx := 0; kx < l.KW; kx++ {
							iy, ix := y*l.Stride-l.Pad+ky, x*l.Stride-l.Pad+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							for ci := 0; ci < c; ci++ {
								acc += xc[((b*h+iy)*w+ix)*c+ci] * lv[o*k+(ky*l.KW+kx)*c+ci]
							}
						}
					}
					out[((b*oh+y)*ow+x)*l.Out+o] = acc
				}
			}
		}
	}
	return out
}

// TestEnginePortable: the portable kernels (as with LOWBIT_NOASM=1) give
// bit-identical logits.
func TestEnginePortable(t *testing.T) {
	m, x, n := testModel(t)
	asm, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	restore := setAsm(false)
	defer restore()
	m2, _, _ := testModel(t)
	gen, err := m2.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range asm {
		if math.Float32bits(asm[i]) != math.Float32bits(gen[i]) {
			t.Fatalf("logit %d: assembly %g, portable %g", i, asm[i], gen[i])
		}
	}
	t.Logf("assembly kernels available: popcnt=%v vnni=%v (LOWBIT_NOASM=%q)", cpuHasPopcnt512 && asmAllowed, cpuHasVNNI && asmAllowed, os.Getenv("LOWBIT_NOASM"))
}

func TestModelRoundTrip(t *testing.T) {
	m, x, n := testModel(t)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.lbq")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := m2.Encode()
	if !bytes.Equal(b, b2) {
		t.Error("re-encoding a loaded model changes its bytes")
	}
	y1, _ := m.Predict(x, n)
	y2, err := m2.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range y1 {
		if y1[i] != y2[i] {
			t.Fatalf("logit %d: %g before the file, %g after", i, y1[i], y2[i])
		}
	}
	if got := m2.Info(); got.Name != "test" || len(got.Std) != 3 {
		t.Errorf("info %+v", got)
	}
}

// rewrite replaces the header and recomputes the checksum, so the fault
// under test is not hidden behind a checksum error.
func rewrite(b []byte, ver uint32, edit func(string) string) []byte {
	hlen := binary.LittleEndian.Uint32(b[12:])
	hdr := edit(string(b[16 : 16+hlen]))
	var out bytes.Buffer
	out.Write(b[:8])
	binary.Write(&out, binary.LittleEndian, ver)
	binary.Write(&out, binary.LittleEndian, uint32(len(hdr)))
	out.WriteString(hdr)
	out.Write(b[16+hlen : len(b)-4])
	binary.Write(&out, binary.LittleEndian, crc32.ChecksumIEEE(out.Bytes()))
	return out.Bytes()
}

func TestDecodeFaults(t *testing.T) {
	m, _, _ := testModel(t)
	good, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 0x10
	same := func(s string) string { return s }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrFormat, "too short"},
		{"magic", append([]byte("NOTMODEL"), good[8:]...), ErrFormat, "magic"},
		{"truncated", good[:len(good)-100], ErrFormat, "checksum"},
		{"truncated header", good[:40], ErrFormat, "checksum"},
		{"tampered", tampered, ErrFormat, "checksum"},
		{"newer version", rewrite(good, FormatVersion+1, same), ErrVersion, "version 2"},
		{"version 0", rewrite(good, 0, same), ErrFormat, "version 0"},
		{"bad json", rewrite(good, 1, func(s string) string { return s[:len(s)-1] }), ErrFormat, "header"},
		{"unknown field", rewrite(good, 1, func(s string) string { return `{"x":1,` + s[1:] }), ErrFormat, "unknown field"},
		{"conv shape", rewrite(good, 1, func(s string) string {
			return strings.Replace(s, `"name":"c4","kernel":"bitserial","in":40`, `"name":"c4","kernel":"bitserial","in":41`, 1)
		}), ErrModel, "c4"},
		{"wrong kernel", rewrite(good, 1, func(s string) string {
			return strings.Replace(s, `"name":"c5","kernel":"int8"`, `"name":"c5","kernel":"xnor"`, 1)
		}), ErrModel, "sign inputs"},
		{"classes", rewrite(good, 1, func(s string) string { return strings.Replace(s, `"classes":10`, `"classes":11`, 1) }), ErrModel, "classes"},
		{"blob overrun", rewrite(good, 1, func(s string) string { return strings.Replace(s, `"len":216}`, `"len":217}`, 1) }), ErrFormat, "blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "bad.lbq")
	os.WriteFile(path, good[:len(good)-1], 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, ErrFormat) {
		t.Errorf("Load(truncated) = %v, want ErrFormat naming %s", err, path)
	}
}

// TestPredictConcurrent runs Predict from several goroutines (meaningful
// under -race) and checks every result against a serial run.
func TestPredictConcurrent(t *testing.T) {
	m, x, n := testModel(t)
	want, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for it := 0; it < 5; it++ {
				k := 1 + (g+it)%n // different batch sizes share the pool
				got, err := m.Predict(x[:k*6*6*3], k)
				if err != nil {
					errs <- err
					return
				}
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d: logit %d = %g, want %g", g, i, got[i], want[i])
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPredictTo checks that PredictTo gives Predict's logits and writes
// them into the buffer it is given back, whatever that held, both when
// the last layer's output is copied out and when a conv or dense layer
// last writes it in place; and that the buffer is not written by later
// calls that are not given it.
func TestPredictTo(t *testing.T) {
	m, x, n := testModel(t)
	rng := rand.New(rand.NewPCG(9, 9))
	conv, err := NewModel(Spec{Input: []int{6, 6, 3}, Classes: 6 * 6 * 40, Layers: []LayerSpec{floatConv(rng, "c", 3, 40, 3, 1, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := NewModel(floatSpec(testSpec(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    *Model
	}{{"xnor", m}, {"float", dense}, {"conv last", conv}} {
		t.Run(c.name, func(t *testing.T) {
			want, err := c.m.Predict(x, n)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]float32, 3, len(want))
			for i := range 3 {
				xs, ws := x, want
				if i == 2 { // batch 1: one exec, no split by samples
					xs, ws = x[:len(x)/n], want[:len(want)/n]
				}
				got, err := c.m.PredictTo(buf, xs, len(xs)*n/len(x))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, ws) {
					t.Fatalf("PredictTo = %v, Predict %v", got, ws)
				}
				if &got[0] != &buf[:1][0] {
					t.Fatal("PredictTo did not reuse a buffer large enough")
				}
				buf = got
			}
			kept := slices.Clone(buf)
			other := slices.Repeat([]float32{0.5}, len(x))
			if _, err := c.m.Trace(other[:len(other)/n], 1, func(Trace) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := c.m.Predict(other, n); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(buf, kept) {
				t.Fatal("a later Predict or Trace wrote into an earlier PredictTo's buffer")
			}
		})
	}
}

func fuzzSeeds(t testing.TB) [][]byte {
	m, _, _ := testModel(t)
	good, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	small, err := NewModel(Spec{Input: []int{2, 2, 1}, Classes: 2, Layers: []LayerSpec{
		{Kind: LayerFlatten},
		{Kind: LayerDense, Name: "d", Kernel: KernelXNOR, In: 4, Out: 2, Input: InputQuant{Kind: QuantSign},
			Weights: WeightSpec{Enc: WeightsSign, Bits: 1, Levels: []int8{1, -1, 1, 1, -1, -1, 1, -1}, Scale: []float32{0.5}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := small.Encode()
	return [][]byte{good, sb, rewrite(sb, 2, func(s string) string { return s }), good[:len(good)/2]}
}

func FuzzModel(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode(t, b)
		// Past the checksum: the same bytes with a valid CRC reach the
		// header, the blob table and the layer decoding.
		b = append([]byte(nil), b...)
		container.Reseal(b)
		fuzzDecode(t, b)
	})
}

// fuzzDecode decodes b and runs and re-encodes what decodes.
func fuzzDecode(t *testing.T, b []byte) {
	m, err := Decode(b)
	if err != nil || m.inLen > 1<<12 {
		return
	}
	x := make([]float32, 2*m.inLen)
	if _, err := m.Predict(x, 2); err != nil {
		t.Fatalf("decoded model fails to run: %v", err)
	}
	again, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(again); err != nil {
		t.Fatalf("re-encoded model does not decode: %v", err)
	}
}

// FuzzModelHeader fuzzes the JSON header and the blobs behind a valid
// envelope (lengths and CRC computed here), so every input reaches the
// header parser, the blob table, the layer decoder and NewModel.
func FuzzModelHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f)[:2] {
		hdr, payload, err := modelFormat.Decode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(hdr), payload)
	}
	f.Fuzz(func(t *testing.T, hdr string, payload []byte) {
		fuzzDecode(t, modelFormat.Encode([]byte(hdr), payload))
	})
}

// TestFuzzSeeds writes the seed corpus with -update.
func TestFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzModel")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzModel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
