package ste

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/lowbit/lowbit/internal/qfunc"
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
//
// A quantizer is a struct whose exported fields carry `q` tags: its schema (see
// Register). Spec parsing, String, defaults and range checks all come from the
// tags, through Parse, Format and Resolve; a quantizer states none of them in code.
type Quantizer interface {
	// Name is the registry key, e.g. "lsq".
	Name() string
	// String is the full spec, e.g. "lsq(bits=4,signed)"; Format(q) writes it.
	String() string
	// BitsFor is the bit width of a quantized value on role r: at most 2^bits
	// levels per row; 32 when the forward pass is the identity.
	BitsFor(r Role) int
	// Symmetric reports whether the levels on inputs lie on both sides of zero
	// (sign, signed LSQ, ternary), so a ReLU before the quantizer would cut off
	// the negative ones: models put a HardTanh there instead.
	Symmetric() bool
	// DataInit reports whether the parameters built for inputs start at zero and
	// take their values from the first batch that passes through (LSQ's step):
	// clearing them re-initialises them from the next batch.
	DataInit() bool
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
	// State is the caller's memory for this application of the Func: the value
	// NewState returned for a Stateful Func, nil otherwise (and for a direct
	// call that wants no memory). Apply gives every graph node its own.
	State any
}

// Func is a quantizer built for one tensor. Forward and Grad read x and the
// parameter values p; the only writes to p are the data-dependent
// initialisation a DataInit quantizer documents (a parameter still at zero is
// set from x) and clamps that keep a parameter valid (LSQ's step floor).
// Memory from one call to the next lives in Ctx.State, never in the Func.
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

// Stateful is implemented by a Func that carries memory from one call to the
// next (LSQ: its step floor and the ∂s its fused backward computes along with
// ∂x). NewState returns fresh memory; the caller passes it in Ctx.State to every
// Forward and Grad of one application (Apply: one graph node), in the order
// forward, then the gradients of that forward.
type Stateful interface {
	NewState() any
}

// Desc is a quantizer's inference-time function as plain data: Identity, Sign,
// or Linear round(clip(x·Mul, Lo, Hi))·Num/Den (package internal/qfunc).
type Desc = qfunc.Desc

// Kinds of Desc.
const (
	DescIdentity = qfunc.Identity
	DescSign     = qfunc.SignKind
	DescLinear   = qfunc.Linear
)

// StepDesc is the Linear Desc round(clip(x/s, lo, hi))·s, evaluated as x·(1/s).
func StepDesc(s float32, lo, hi int) Desc { return qfunc.Step(s, lo, hi) }

// Inferer is implemented by a Func whose output depends on the value alone
// once its parameters are fixed. Infer returns that inference-time function
// with the parameter values p folded in, as a plain descriptor the packed
// engine evaluates; Forward computes it with the same scalar code
// (internal/qfunc), so export reproduces training bit for bit.
type Inferer interface {
	Infer(p [][]float32) (Desc, error)
}

// Infer returns the descriptor of f with parameter values p; ok is false when
// f's output depends on more than the value (batch statistics, row scales).
func Infer(f Func, p [][]float32) (d Desc, ok bool, err error) {
	i, ok := f.(Inferer)
	if !ok {
		return d, false, nil
	}
	d, err = i.Infer(p)
	return d, err == nil, err
}

// Errors.
var (
	ErrUnknown = errors.New("ste: unknown quantizer")
	ErrParam   = errors.New("ste: bad parameter")
)

// BitsFor returns q's bit width on role r; 32 for nil (full precision).
func BitsFor(q Quantizer, r Role) int {
	if q == nil {
		return 32
	}
	return q.BitsFor(r)
}

// SpecOf returns q's spec string, "fp" for nil (full precision); Parse reads it back.
func SpecOf(q Quantizer) string {
	if q == nil {
		return "fp"
	}
	return q.String()
}

// Reseeder is implemented by quantizers with a noise seed (DoReFaGrad):
// Reseed returns the quantizer with salt mixed into its seed.
type Reseeder interface {
	Reseed(salt uint64) Quantizer
}

// Reseed returns q with salt mixed into its noise seed, or q unchanged when
// it draws no noise.
func Reseed(q Quantizer, salt uint64) Quantizer {
	if r, ok := q.(Reseeder); ok {
		return r.Reseed(salt)
	}
	return q
}

// ---- helpers shared by the quantizers ----

// sign is +1 for x ≥ 0 (−0 included) and −1 otherwise (NaN included).
func sign(x float32) float32 { return qfunc.Sign(x) }

// round is round-half-to-even, the one the packed engine uses (qfunc.Round).
func round(x float32) float32 { return qfunc.Round(x) }

func clip(x, lo, hi float32) float32 { return qfunc.Clip(x, lo, hi) }

func abs(x float32) float32 { return qfunc.Abs(x) }

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

// maxAbs returns max|x|.
func maxAbs(x []float32) float32 {
	var m float32
	for _, v := range x {
		if a := abs(v); a > m {
			m = a
		}
	}
	return m
}

// quantizeK is quantize_k(r) = round((2^k−1)·r)/(2^k−1) for r in [0,1], levels = 2^k−1.
func quantizeK(r, levels float32) float32 { return round(levels*r) / levels }

// levelsOf is 2^bits − 1.
func levelsOf(bits int) int { return int(1)<<bits - 1 }

// signedRange is the clip range [−Q_N, Q_P] of b-bit codes: signed
// [−2^(b−1), 2^(b−1)−1] or unsigned [0, 2^b−1].
func signedRange(b int, signed bool) (qn, qp int) {
	if signed {
		return 1 << (b - 1), 1<<(b-1) - 1
	}
	return 0, 1<<b - 1
}

func checkLen(dst, x []float32) error {
	if len(dst) != len(x) {
		return fmt.Errorf("ste: output length %d, input length %d", len(dst), len(x))
	}
	return nil
}

// checkLenOf is checkLen naming the quantizer.
func checkLenOf(name string, y, x []float32) error {
	if len(y) != len(x) {
		return fmt.Errorf("ste: %s: output length %d, input length %d", name, len(y), len(x))
	}
	return nil
}

// checkGradLen checks a gradient w.r.t. the input: len(dst) == len(g) == len(x).
func checkGradLen(name string, dst, g, x []float32) error {
	if len(dst) != len(x) || len(g) != len(x) {
		return fmt.Errorf("ste: %s: gradient lengths dst %d, upstream %d, input %d differ", name, len(dst), len(g), len(x))
	}
	return nil
}

// checkShape rejects a target without rows.
func checkShape(name string, t Target) error {
	if len(t.Shape) == 0 || t.Shape[0] <= 0 {
		return fmt.Errorf("%w: %s: empty shape", ErrParam, name)
	}
	return nil
}

// groupLen is the length of one statistics group: the whole tensor, or one row of c.Rows.
func groupLen(name string, n int, perRow bool, c Ctx) (int, error) {
	if n == 0 {
		return 0, fmt.Errorf("ste: %s: empty input", name)
	}
	if !perRow {
		return n, nil
	}
	if c.Rows <= 0 || n%c.Rows != 0 {
		return 0, fmt.Errorf("ste: %s: %d values do not split into %d rows", name, n, c.Rows)
	}
	return n / c.Rows, nil
}

// scalarParams checks that p holds exactly the given number of one-element parameters.
func scalarParams(name string, p [][]float32, n int) error {
	if len(p) != n {
		return fmt.Errorf("ste: %s: %d parameters, want %d", name, len(p), n)
	}
	for i, v := range p {
		if len(v) != 1 {
			return fmt.Errorf("ste: %s: parameter %d has %d values, want 1", name, i, len(v))
		}
	}
	return nil
}

// positive checks that a learnable scalar is a positive finite number.
func positive(name, param string, v float32) error {
	if !(v > 0) || math.IsInf(float64(v), 0) {
		return fmt.Errorf("%w: %s: %s=%g, want a positive finite number", ErrParam, name, param, v)
	}
	return nil
}

// checkSignedBits rejects a signed quantizer with fewer than 2 bits.
func checkSignedBits(name string, bits int, signed bool) error {
	if signed && bits < 2 {
		return fmt.Errorf("%w: %s: bits=%d out of range [2,16] for signed values", ErrParam, name, bits)
	}
	return nil
}

func errWRT(name string, wrt int) error {
	return fmt.Errorf("ste: %s has no input %d", name, wrt)
}

// stateless is embedded by quantizers without learnable parameters.
type stateless struct{}

func (stateless) Params() []Param { return nil }

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

// join formats name(arg1,arg2,...), or name alone without args.
func join(name string, args []string) string {
	if len(args) == 0 {
		return name
	}
	return name + "(" + strings.Join(args, ",") + ")"
}

// ---- schema: spec parsing, String, defaults and validation from `q` tags ----
//
// Each exported field of a quantizer struct is one spec parameter, declared by
// its tag `q:"key,option,..."`. Options:
//
//	default=V  the value of a spec that leaves the key out, and of a zero field
//	zero       zero is a value of its own (PACT's decay: none); the default
//	           then applies only to a spec that leaves the key out
//	min=V max=V gt=V lt=V   the range of the value (for a zero field only
//	           when it is not marked zero)
//	enum=a|b|… the spec spells the value by name: index i of an integer field,
//	           false|true of a bool field
//	show       String always writes the key (else only when not the default)
//	if=K=V     the key applies only while parameter K is V: a spec that gives it
//	           otherwise is an error, String leaves it out, no default is filled
//
// A bool field without enum is written as its bare key when true. Fields of
// kind int, uint64, float32, float64 and bool are supported. A quantizer may add
// a Check() error method for rules across fields; Resolve calls it.

type field struct {
	index        int
	key, def     string
	zero, show   bool
	enum         []string
	min, max     *float64
	gt, lt       *float64
	ifKey, ifVal string
}

type schema struct {
	typ    reflect.Type
	name   string
	fields []field
}

var schemas sync.Map // reflect.Type → *schema

// schemaOf reads the `q` tags of t (cached).
func schemaOf(t reflect.Type) (*schema, error) {
	if s, ok := schemas.Load(t); ok {
		return s.(*schema), nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("ste: %v: a quantizer with a schema is a struct", t)
	}
	s := &schema{typ: t}
	if q, ok := reflect.Zero(t).Interface().(Quantizer); ok {
		s.name = q.Name()
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("q")
		if !sf.IsExported() || !ok {
			continue
		}
		f, err := parseTag(i, tag)
		if err != nil {
			return nil, fmt.Errorf("ste: %v.%s: %w", t, sf.Name, err)
		}
		switch sf.Type.Kind() {
		case reflect.Int, reflect.Uint64, reflect.Float32, reflect.Float64, reflect.Bool:
		default:
			return nil, fmt.Errorf("ste: %v.%s: unsupported kind %v", t, sf.Name, sf.Type.Kind())
		}
		s.fields = append(s.fields, f)
	}
	schemas.Store(t, s)
	return s, nil
}

func parseTag(i int, tag string) (field, error) {
	parts := strings.Split(tag, ",")
	f := field{index: i, key: parts[0]}
	num := func(v string) (*float64, error) {
		x, err := strconv.ParseFloat(v, 64)
		return &x, err
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		var err error
		switch k {
		case "default":
			f.def = v
		case "zero":
			f.zero = true
		case "show":
			f.show = true
		case "enum":
			f.enum = strings.Split(v, "|")
		case "min":
			f.min, err = num(v)
		case "max":
			f.max, err = num(v)
		case "gt":
			f.gt, err = num(v)
		case "lt":
			f.lt, err = num(v)
		case "if":
			f.ifKey, f.ifVal, _ = strings.Cut(v, "=")
		default:
			err = fmt.Errorf("unknown tag option %q", k)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *schema) field(key string) *field {
	for i := range s.fields {
		if s.fields[i].key == key {
			return &s.fields[i]
		}
	}
	return nil
}

func (s *schema) keys() []string {
	out := make([]string, len(s.fields))
	for i, f := range s.fields {
		out[i] = f.key
	}
	return out
}

// set parses the spec text v into field f of the struct value sv.
func (s *schema) set(sv reflect.Value, f *field, v string) error {
	fv := sv.Field(f.index)
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: %s=%q is not %s", ErrParam, s.name, f.key, v, what)
	}
	if f.enum != nil {
		i := slices.Index(f.enum, v)
		if i < 0 {
			return fmt.Errorf("%w: %s: %s=%q (want %s)", ErrParam, s.name, f.key, v, strings.Join(f.enum, " or "))
		}
		if fv.Kind() == reflect.Bool {
			fv.SetBool(i == 1)
		} else {
			fv.SetInt(int64(i))
		}
		return nil
	}
	switch fv.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad("a boolean")
		}
		fv.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return bad("an integer")
		}
		fv.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return bad("an unsigned integer")
		}
		fv.SetUint(n)
	default:
		x, err := strconv.ParseFloat(v, fv.Type().Bits())
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("a finite number")
		}
		fv.SetFloat(x)
	}
	return nil
}

// text is the spec text of field f of sv.
func (s *schema) text(sv reflect.Value, f *field) string {
	fv := sv.Field(f.index)
	switch fv.Kind() {
	case reflect.Bool:
		if f.enum != nil {
			return f.enum[b2i(fv.Bool())]
		}
		return strconv.FormatBool(fv.Bool())
	case reflect.Int:
		if f.enum != nil && fv.Int() >= 0 && int(fv.Int()) < len(f.enum) {
			return f.enum[fv.Int()]
		}
		return strconv.FormatInt(fv.Int(), 10)
	case reflect.Uint64:
		return strconv.FormatUint(fv.Uint(), 10)
	}
	return strconv.FormatFloat(fv.Float(), 'g', -1, fv.Type().Bits())
}

// applies reports whether f's if-condition holds in sv.
func (s *schema) applies(sv reflect.Value, f *field) bool {
	if f.ifKey == "" {
		return true
	}
	c := s.field(f.ifKey)
	return c != nil && s.text(sv, c) == f.ifVal
}

// fill sets fields to their defaults: those absent from a spec (given non-nil),
// or, for a Go value (given nil), the zero ones not marked zero.
func (s *schema) fill(sv reflect.Value, given map[string]bool) error {
	for i := range s.fields {
		f := &s.fields[i]
		if f.def == "" || !s.applies(sv, f) {
			continue
		}
		if given != nil && given[f.key] || given == nil && (f.zero || !sv.Field(f.index).IsZero()) {
			continue
		}
		if err := s.set(sv, f, f.def); err != nil {
			return err
		}
	}
	return nil
}

// check validates the ranges of sv's fields (given: keys a spec set explicitly).
func (s *schema) check(sv reflect.Value, given map[string]bool) error {
	for i := range s.fields {
		f := &s.fields[i]
		fv := sv.Field(f.index)
		if !s.applies(sv, f) {
			if given[f.key] {
				return fmt.Errorf("%w: %s: %s needs %s=%s", ErrParam, s.name, f.key, f.ifKey, f.ifVal)
			}
			continue
		}
		if f.zero && fv.IsZero() || fv.Kind() == reflect.Bool {
			continue
		}
		var x float64
		switch fv.Kind() {
		case reflect.Int:
			x = float64(fv.Int())
		case reflect.Uint64:
			x = float64(fv.Uint())
		default:
			x = fv.Float()
		}
		if math.IsNaN(x) || math.IsInf(x, 0) || f.min != nil && x < *f.min || f.max != nil && x > *f.max || f.gt != nil && !(x > *f.gt) || f.lt != nil && !(x < *f.lt) {
			return fmt.Errorf("%w: %s: %s=%s out of range %s", ErrParam, s.name, f.key, s.text(sv, f), f.rangeText())
		}
	}
	return nil
}

func (f *field) rangeText() string {
	lo, hi := "(−∞", "∞)"
	if f.min != nil {
		lo = "[" + strconv.FormatFloat(*f.min, 'g', -1, 64)
	} else if f.gt != nil {
		lo = "(" + strconv.FormatFloat(*f.gt, 'g', -1, 64)
	}
	if f.max != nil {
		hi = strconv.FormatFloat(*f.max, 'g', -1, 64) + "]"
	} else if f.lt != nil {
		hi = strconv.FormatFloat(*f.lt, 'g', -1, 64) + ")"
	}
	return lo + "," + hi
}

// Checker is implemented by quantizers with rules across fields (LSQ: signed
// values need 2 bits); Resolve and Parse call Check after the field checks.
type Checker interface {
	Check() error
}

// Resolve returns q with its zero fields set to their defaults, checked against
// its schema and its Check method. Build starts with it.
func Resolve[T Quantizer](q T) (T, error) {
	s, err := schemaOf(reflect.TypeOf(q))
	if err != nil {
		return q, err
	}
	sv := reflect.ValueOf(&q).Elem()
	if err := s.fill(sv, nil); err != nil {
		return q, err
	}
	if err := s.check(sv, nil); err != nil {
		return q, err
	}
	if c, ok := any(q).(Checker); ok {
		if err := c.Check(); err != nil {
			return q, err
		}
	}
	return q, nil
}

// Format writes q's spec: name(key=value,...) with the parameters that differ
// from their defaults and those marked show, in field order; Parse reads it back.
func Format(q Quantizer) string {
	s, err := schemaOf(reflect.TypeOf(q))
	if err != nil {
		return q.Name()
	}
	sv := reflect.New(s.typ).Elem()
	sv.Set(reflect.ValueOf(q))
	s.fill(sv, nil) // a bad default is reported by Register; Format writes what it has
	var args []string
	for i := range s.fields {
		f := &s.fields[i]
		if !s.applies(sv, f) {
			continue
		}
		fv := sv.Field(f.index)
		if fv.Kind() == reflect.Bool && f.enum == nil {
			if fv.Bool() {
				args = append(args, f.key)
			}
			continue
		}
		v := s.text(sv, f)
		if f.show || v != f.defText(s) {
			args = append(args, f.key+"="+v)
		}
	}
	return join(q.Name(), args)
}

// defText is the spec text of f's default.
func (f *field) defText(s *schema) string {
	sv := reflect.New(s.typ).Elem()
	if f.def != "" {
		s.set(sv, f, f.def) // Register checked it
	}
	return s.text(sv, f)
}

// SetParam returns q with parameter key set to the spec text value, checked as
// Parse would; ok is false when q has no such parameter.
func SetParam(q Quantizer, key, value string) (Quantizer, bool, error) {
	s, err := schemaOf(reflect.TypeOf(q))
	if err != nil || s.field(key) == nil {
		return q, false, err
	}
	sv := reflect.New(s.typ).Elem()
	sv.Set(reflect.ValueOf(q))
	if err := s.set(sv, s.field(key), value); err != nil {
		return q, true, err
	}
	out := sv.Interface().(Quantizer)
	if c, ok := out.(Checker); ok {
		if err := c.Check(); err != nil {
			return q, true, err
		}
	}
	return out, true, s.check(sv, map[string]bool{key: true})
}

// ---- registry ----

type entry struct {
	proto  Quantizer
	schema *schema
	doc    string
}

var registry = map[string]entry{}

// Register adds the quantizer type of proto under proto.Name(); doc is a one-line
// description (Doc appends the parameters). It panics on a duplicate name or a
// bad schema (init time only).
func Register(proto Quantizer, doc string) {
	name := proto.Name()
	if _, dup := registry[name]; dup {
		panic("ste: duplicate quantizer " + name)
	}
	s, err := schemaOf(reflect.TypeOf(proto))
	if err != nil {
		panic(err.Error())
	}
	sv := reflect.New(s.typ).Elem()
	for i := range s.fields {
		f := &s.fields[i]
		if f.ifKey != "" && s.field(f.ifKey) == nil {
			panic(fmt.Sprintf("ste: %s: %s: if= names no parameter %q", name, f.key, f.ifKey))
		}
		if f.def != "" {
			if err := s.set(sv, f, f.def); err != nil {
				panic(fmt.Sprintf("ste: %s: default of %s: %v", name, f.key, err))
			}
		}
	}
	registry[name] = entry{proto, s, doc}
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

// Doc returns the one-line description of a registered quantizer and its parameters.
func Doc(name string) string {
	e, ok := registry[name]
	if !ok {
		return ""
	}
	if len(e.schema.fields) == 0 {
		return e.doc
	}
	return e.doc + "; params: " + strings.Join(e.schema.keys(), ", ")
}

// Parse resolves a spec such as "lsq:bits=4,signed" or "lsq(bits=4,signed)".
// "fp", "none" and "" mean full precision and return nil. Parameters left out
// take their defaults, so the result has every field set.
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
	return e.parse(rest)
}

func (e entry) parse(rest string) (Quantizer, error) {
	s := e.schema
	sv := reflect.New(s.typ).Elem()
	sv.Set(reflect.ValueOf(e.proto))
	given := map[string]bool{}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, found := strings.Cut(strings.TrimSpace(kv), "=")
			if !found {
				v = "true"
			}
			f := s.field(k)
			if f == nil {
				if len(s.fields) == 0 {
					return nil, fmt.Errorf("%w: %s takes no parameters, got %s", ErrParam, s.name, k)
				}
				return nil, fmt.Errorf("%w: %s: unknown parameter %s (known: %s)", ErrParam, s.name, k, strings.Join(s.keys(), ", "))
			}
			if err := s.set(sv, f, v); err != nil {
				return nil, err
			}
			given[k] = true
		}
	}
	if err := s.fill(sv, given); err != nil {
		return nil, err
	}
	if err := s.check(sv, given); err != nil {
		return nil, err
	}
	q := sv.Interface().(Quantizer)
	if c, ok := q.(Checker); ok {
		if err := c.Check(); err != nil {
			return nil, err
		}
	}
	return q, nil
}
