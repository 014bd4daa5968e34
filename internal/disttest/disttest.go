// Package disttest compares the checkpoints of a data-parallel run and a
// one-process run for the distributed tests (recipes, cmd/lowbit).
package disttest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/lowbit/lowbit/recipes"
)

// Tolerance of the equivalence: the runs may differ only in float reduction
// order. The allreduce adds per-rank gradient sums where one process sums the
// whole batch, and BatchNorm's statistics are added up in another order, so
// values differ in their last bits, and training carries such differences on.
// Each tensor (weights, quantizer parameters, BatchNorm running statistics,
// optimizer buffers) must satisfy
//
//	rms(a−b) ≤ AbsTol + RelTol·rms(b)
//
// and step counters and DoReFa noise counters must be equal bit for bit.
// Per-rank BatchNorm (no -sync-bn) exceeds it several times over, which shows
// that the test can tell.
//
// Two amplifiers of round-off are kept out of the tests that use it, and the
// tests say so: Adam divides each update by √v, so a gradient that is zero in
// exact arithmetic (Σ over the batch of BatchNorm's ∂x feeding a bias) but
// round-off in practice becomes a ±lr step (the tests use SGD with momentum);
// and a max-pool over values on a quantization grid (LeNet-5 with 4-bit weights
// and inputs) picks one of two nearly tied inputs by their last bit, routing a
// whole gradient elsewhere (the tests use the MLP).
const (
	AbsTol = 2e-5
	RelTol = 2e-3
)

// Compare lists the tensors and optimizer values of checkpoint got that differ
// from want beyond the tolerance, and any structural difference; worst is the
// largest rms(a−b)/(AbsTol+RelTol·rms(b)) seen.
func Compare(got, want *recipes.Checkpoint) (diffs []string, worst float64, err error) {
	if got.Step != want.Step || got.Epoch != want.Epoch || len(got.Tensors) != len(want.Tensors) {
		return []string{fmt.Sprintf("step %d epoch %d %d tensors, want step %d epoch %d %d tensors",
			got.Step, got.Epoch, len(got.Tensors), want.Step, want.Epoch, len(want.Tensors))}, 0, nil
	}
	check := func(name string, a, b []float32, exact bool) {
		d, r := compareF32(name, a, b, exact)
		if d != "" {
			diffs = append(diffs, d)
		}
		worst = max(worst, r)
	}
	for i, ti := range got.Tensors {
		if ti.Name != want.Tensors[i].Name {
			return []string{fmt.Sprintf("tensor %d is %s, want %s", i, ti.Name, want.Tensors[i].Name)}, 0, nil
		}
		check(ti.Name, got.Data[i], want.Data[i], strings.HasSuffix(ti.Name, ".calls"))
	}
	oa, err := DecodeOptState(got.OptBytes)
	if err != nil {
		return nil, 0, err
	}
	ob, err := DecodeOptState(want.OptBytes)
	if err != nil {
		return nil, 0, err
	}
	if len(oa) != len(ob) {
		diffs = append(diffs, fmt.Sprintf("optimizer state: %d entries, want %d", len(oa), len(ob)))
	}
	for name, va := range oa {
		vb, ok := ob[name]
		if !ok {
			diffs = append(diffs, "optimizer "+name+": missing in the one-process run")
			continue
		}
		check("optimizer "+name, va, vb, strings.HasSuffix(name, ".step"))
	}
	return diffs, worst, nil
}

// compareF32 describes a tensor beyond tolerance (or returns ""), with its ratio to the tolerance.
func compareF32(name string, a, b []float32, exact bool) (string, float64) {
	if len(a) != len(b) {
		return fmt.Sprintf("%s: %d values, want %d", name, len(a), len(b)), 0
	}
	var d2, b2 float64
	for i := range a {
		if exact {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return fmt.Sprintf("%s[%d] = %v, want exactly %v", name, i, a[i], b[i]), 0
			}
			continue
		}
		d := float64(a[i]) - float64(b[i])
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Sprintf("%s[%d] = %v, want %v", name, i, a[i], b[i]), 0
		}
		d2 += d * d
		b2 += float64(b[i]) * float64(b[i])
	}
	if exact || len(a) == 0 {
		return "", 0
	}
	n := float64(len(a))
	rd, rb := math.Sqrt(d2/n), math.Sqrt(b2/n)
	r := rd / (AbsTol + RelTol*rb)
	if r > 1 {
		return fmt.Sprintf("%s: rms difference %.3g, rms value %.3g: %.1f× the tolerance %g+%g·rms", name, rd, rb, r, AbsTol, RelTol), r
	}
	return "", r
}

// DecodeOptState reads optim's state layout (see optim/state.go) into
// "param.slotK" → values and "param.step" → the step counter.
func DecodeOptState(b []byte) (map[string][]float32, error) {
	out := map[string][]float32{}
	bad := errors.New("optimizer state: truncated")
	if len(b) < 9 || string(b[:4]) != "LBOS" {
		return nil, errors.New("optimizer state: bad magic")
	}
	b = b[5:]
	uv := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, bad
		}
		b = b[n:]
		return v, nil
	}
	str := func() (string, error) {
		n, err := uv()
		if err != nil || n > uint64(len(b)) {
			return "", bad
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	if _, err := str(); err != nil {
		return nil, err
	}
	nparams, err := uv()
	if err != nil || nparams > 1<<20 {
		return nil, bad
	}
	for range nparams {
		name, err := str()
		if err != nil {
			return nil, err
		}
		step, err := uv()
		if err != nil {
			return nil, err
		}
		out[name+".step"] = []float32{float32(step)}
		nslots, err := uv()
		if err != nil || nslots > 16 {
			return nil, bad
		}
		for k := range nslots {
			n, err := uv()
			if err != nil || 4*n > uint64(len(b)) {
				return nil, bad
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			b = b[4*n:]
			out[fmt.Sprintf("%s.slot%d", name, k)] = v
		}
	}
	return out, nil
}
