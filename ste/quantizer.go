package ste

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/graphop"
)

// Role says what a quantizer is applied to.
type Role int

const (
	// Weights: the tensor's leading dimension is the output channel.
	Weights Role = iota
	// Inputs: activations; the leading dimension is the batch.
	Inputs
)

func (r Role) String() string {
	if r == Weights {
		return "weights"
	}
	return "inputs"
}

// Target describes the tensor a quantizer is built for.
type Target struct {
	Shape []int // full shape; Shape[0] is the row dimension (output channels or batch)
	Role  Role
	// Init holds the latent weights' initial values (Role Weights), used by
	// data-dependent initialisation such as LSQ's step. Nil for inputs.
	Init []float32
}

// Quantizer describes a quantizer. Values of these types go into layer configs.
type Quantizer interface {
	// Name is the registry key, e.g. "lsq".
	Name() string
	// String is the full spec, e.g. "lsq(bits=4,signed)".
	String() string
	// Bits is the bit width of a quantized value: at most 2^Bits levels per row.
	Bits() int
	// Build returns the function for one tensor.
	Build(t Target) (Func, error)
}

// Param is a learnable quantizer parameter with its initial value.
type Param struct {
	Name string    // short name, e.g. "step"
	Data []float32 // initial value; the layer owns the tensor built from it
	// Decay is an L2 coefficient the paper applies to this parameter (PACT's α); 0 for none.
	Decay float32
}

// Ctx is passed to every call.
type Ctx struct {
	Rows int // leading dimension
	// Row0 is the index of row 0 in the global batch when a data-parallel rank
	// holds rows [Row0, Row0+Rows) of it (0 in one process). Per-sample random
	// draws key on Row0+row so that they do not depend on the split.
	Row0 int
}

// Func is a quantizer built for one tensor.
type Func interface {
	// Params lists the learnable parameters; Forward and Grad receive their
	// current values in the same order as p.
	Params() []Param
	// Forward writes q(x) into y (len(y) == len(x)).
	Forward(y, x []float32, p [][]float32, c Ctx) error
	// Grad writes the surrogate gradient of the loss into dst, given the
	// upstream gradient g: wrt 0 is x (len(dst) == len(x)), wrt i ≥ 1 is p[i-1].
	Grad(wrt int, dst, g, x, y []float32, p [][]float32, c Ctx) error
}

// Errors.
var (
	ErrUnknown = errors.New("ste: unknown quantizer")
	ErrParam   = errors.New("ste: bad parameter")
)

// Apply adds q(x) to x's graph. params are the nodes of f.Params(), in order.
func Apply(f Func, name string, x *gorgonia.Node, params ...*gorgonia.Node) (*gorgonia.Node, error) {
	return ApplyAt(f, name, 0, x, params...)
}

// ApplyAt is Apply for a graph whose row 0 is row row0 of the global batch (see Ctx.Row0).
func ApplyAt(f Func, name string, row0 int, x *gorgonia.Node, params ...*gorgonia.Node) (*gorgonia.Node, error) {
	if row0 < 0 {
		return nil, fmt.Errorf("ste: %s: negative first row %d", name, row0)
	}
	if len(params) != len(f.Params()) {
		return nil, fmt.Errorf("ste: %s: %d parameter nodes for %d parameters", name, len(params), len(f.Params()))
	}
	in := append([]*gorgonia.Node{x}, params...)
	return graphop.Apply(kernel{f: f, name: name, row0: row0}, in...)
}

// kernel adapts a Func to graphop.Kernel.
type kernel struct {
	f    Func
	name string
	row0 int
}

func (k kernel) String() string { return k.name }

func (k kernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) == 0 {
		return nil, fmt.Errorf("ste: %s: scalar input", k.name)
	}
	return in[0].Clone(), nil
}

func (k kernel) split(in []graphop.Tensor) ([][]float32, Ctx) {
	p := make([][]float32, len(in)-1)
	for i := range p {
		p[i] = in[i+1].Data
	}
	return p, Ctx{Rows: in[0].Shape[0], Row0: k.row0}
}

func (k kernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	p, c := k.split(in)
	return k.f.Forward(out.Data, in[0].Data, p, c)
}

func (k kernel) DiffWRT(int) bool { return true }

func (k kernel) Backward(wrt int, dIn graphop.Tensor, in []graphop.Tensor, out, dOut graphop.Tensor) error {
	p, c := k.split(in)
	return k.f.Grad(wrt, dIn.Data, dOut.Data, in[0].Data, out.Data, p, c)
}

// ---- registry ----

// Factory builds a quantizer from parsed parameters.
type Factory func(args Args) (Quantizer, error)

type entry struct {
	factory Factory
	doc     string
}

var registry = map[string]entry{}

// Register adds a quantizer under name. It panics on a duplicate (init time only).
func Register(name, doc string, f Factory) {
	if _, dup := registry[name]; dup {
		panic("ste: duplicate quantizer " + name)
	}
	registry[name] = entry{f, doc}
}

// Names lists the registered quantizers, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Doc returns the one-line description of a registered quantizer.
func Doc(name string) string { return registry[name].doc }

// Parse resolves a spec such as "lsq:bits=4,signed" or "lsq(bits=4,signed)".
// "fp", "none" and "" mean full precision and return nil.
func Parse(spec string) (Quantizer, error) {
	spec = strings.TrimSpace(spec)
	switch spec {
	case "", "fp", "none", "fp32":
		return nil, nil
	}
	name, rest := spec, ""
	if i := strings.IndexAny(spec, ":("); i >= 0 {
		name, rest = spec[:i], spec[i+1:]
		if spec[i] == '(' {
			if !strings.HasSuffix(rest, ")") {
				return nil, fmt.Errorf("%w: %q: missing ')'", ErrParam, spec)
			}
			rest = strings.TrimSuffix(rest, ")")
		}
	}
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: fp, %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	args := Args{name: name, vals: map[string]string{}, used: map[string]bool{}}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, found := strings.Cut(strings.TrimSpace(kv), "=")
			if !found {
				v = "true"
			}
			args.vals[k] = v
		}
	}
	q, err := e.factory(args)
	if err != nil {
		return nil, err
	}
	if err := args.unused(); err != nil {
		return nil, err
	}
	return q, nil
}

// Args are the parsed key=value parameters of a spec.
type Args struct {
	name string
	vals map[string]string
	used map[string]bool
}

func (a *Args) take(k string) (string, bool) {
	v, ok := a.vals[k]
	if a.used == nil {
		a.used = map[string]bool{}
	}
	a.used[k] = true
	return v, ok
}

// Int returns parameter k, or def when absent.
func (a *Args) Int(k string, def int) (int, error) {
	v, ok := a.take(k)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %s=%q is not an integer", ErrParam, a.name, k, v)
	}
	return n, nil
}

// Float returns parameter k, or def when absent.
func (a *Args) Float(k string, def float64) (float64, error) {
	v, ok := a.take(k)
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %s: %s=%q is not a finite number", ErrParam, a.name, k, v)
	}
	return f, nil
}

// Bool returns parameter k ("signed" alone means true), or def when absent.
func (a *Args) Bool(k string, def bool) (bool, error) {
	v, ok := a.take(k)
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %s=%q is not a boolean", ErrParam, a.name, k, v)
	}
	return b, nil
}

// String returns parameter k, or def when absent.
func (a *Args) String(k, def string) string {
	v, ok := a.take(k)
	if !ok {
		return def
	}
	return v
}

func (a *Args) unused() error {
	var bad, known []string
	for k := range a.vals {
		if !a.used[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	for k := range a.used {
		known = append(known, k)
	}
	sort.Strings(bad)
	sort.Strings(known)
	if len(known) == 0 {
		return fmt.Errorf("%w: %s takes no parameters, got %s", ErrParam, a.name, strings.Join(bad, ", "))
	}
	return fmt.Errorf("%w: %s: unknown parameter %s (known: %s)", ErrParam, a.name, strings.Join(bad, ", "), strings.Join(known, ", "))
}

// checkBits validates a bit width.
func checkBits(name string, bits, lo, hi int) error {
	if bits < lo || bits > hi {
		return fmt.Errorf("%w: %s: bits=%d out of range [%d,%d]", ErrParam, name, bits, lo, hi)
	}
	return nil
}

// ---- shared element math ----

// sign is +1 for x ≥ 0 (−0 included) and −1 otherwise (NaN included),
// without a branch: random signs mispredict one in two.
func sign(x float32) float32 {
	return math.Float32frombits(0x3f800000 | uint32(b2i(!(x >= 0)))<<31)
}

// round is round-half-to-even. For |x| < 2^22, adding and subtracting 1.5·2^23
// rounds in the FPU's default mode (to nearest, ties to even) without the
// software math.RoundToEven that GOAMD64=v1 builds get; zero comes out +0.
//
// The conversion float32(x) rounds an inlined product argument (round(l·r))
// before the add, so GOAMD64=v3 builds do not fuse them into one
// multiply-add and every build rounds alike (and as the packed engine does).
func round(x float32) float32 {
	const magic = 1.5 * (1 << 23)
	x = float32(x)
	if abs(x) < 1<<22 {
		y := x + magic
		return y - magic
	}
	return float32(math.RoundToEven(float64(x)))
}

func clip(x, lo, hi float32) float32 { return min(max(x, lo), hi) }

func abs(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func meanAbs(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(abs(v))
	}
	if len(x) == 0 {
		return 0
	}
	return float32(s / float64(len(x)))
}

func checkLen(dst, x []float32) error {
	if len(dst) != len(x) {
		return fmt.Errorf("ste: output length %d, input length %d", len(dst), len(x))
	}
	return nil
}

// stateless is embedded by quantizers without learnable parameters.
type stateless struct{}

func (stateless) Params() []Param { return nil }

func errWRT(name string, wrt int) error {
	return fmt.Errorf("ste: %s has no input %d", name, wrt)
}

// BitsFor returns q's bit width on role r; 32 for nil (full precision).
func BitsFor(q Quantizer, r Role) int {
	if q == nil {
		return 32
	}
	if rb, ok := q.(interface{ BitsFor(Role) int }); ok {
		return rb.BitsFor(r)
	}
	return q.Bits()
}

// SpecOf returns q's spec string, "fp" for nil (full precision); Parse reads it back.
func SpecOf(q Quantizer) string {
	if q == nil {
		return "fp"
	}
	return q.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keep returns g when ok and +0 otherwise, without a branch (a multiply by 0
// would turn a negative g into −0 and an infinite one into NaN).
func keep(g float32, ok bool) float32 {
	return math.Float32frombits(math.Float32bits(g) & -uint32(b2i(ok)))
}
