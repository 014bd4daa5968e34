package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// Policy is the precision of the first and last layers.
type Policy string

const (
	// FP keeps the first and last layers in full precision (the papers' default).
	FP Policy = "fp"
	// Int8 quantizes the first and last layers to 8 bits with LSQ (the LSQ paper's choice).
	Int8 Policy = "8bit"
	// Same quantizes them like the rest of the network.
	Same Policy = "same"
	// SameWeights quantizes the first layer's weights but not its inputs (the image),
	// and the last layer like the rest (Larq's all-binary tutorial).
	SameWeights Policy = "same-weights"
)

// Act is the activation between layers.
type Act string

const (
	// Auto picks HardTanh before symmetric (sign-like) input quantizers and ReLU otherwise.
	Auto     Act = ""
	ReLU     Act = "relu"
	HardTanh Act = "hardtanh"
	// None uses no activation (the next layer's input quantizer is the nonlinearity).
	None Act = "none"
)

// Spec describes a model. Its zero value plus a Name is a full-precision model.
type Spec struct {
	Name    string `json:"model"`
	Input   []int  `json:"input"` // per-sample H, W, C
	Classes int    `json:"classes"`
	// ClassNames, when set, names the classes in label order (an ImageFolder's
	// training class list), so evaluation labels its data the same way.
	ClassNames []string      `json:"class_names,omitempty"`
	Weights    ste.Quantizer `json:"-"`
	Inputs     ste.Quantizer `json:"-"`
	// Grads quantizes the gradient after each quantized (body) conv/dense output (DoReFa's G).
	Grads   ste.Quantizer `json:"-"`
	Policy  Policy        `json:"policy,omitempty"` // "" means FP
	Act     Act           `json:"act,omitempty"`
	NoBN    bool          `json:"no_bn,omitempty"`
	Dropout float32       `json:"dropout,omitempty"`
	Hidden  []int         `json:"hidden,omitempty"` // MLP hidden widths
	Width   float64       `json:"width,omitempty"`  // channel multiplier (0 means 1)
	// Override replaces the quantizers of named conv/dense layers (see override.go).
	Override map[string]LayerQuant `json:"override,omitempty"`
	// Mean and Std normalise the input per channel as in training,
	// x = (p/255 − Mean)/Std for a pixel p; recipes sets them from the
	// dataset (datasets.InputNorm) and export carries them into the model
	// file. They do not change the network.
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
	Seed uint64    `json:"seed"`
}

// MarshalJSON writes the quantizers by their spec strings.
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	return json.Marshal(struct {
		plain
		W string `json:"weights"`
		I string `json:"inputs"`
		G string `json:"grads,omitempty"`
	}{plain(s), ste.SpecOf(s.Weights), ste.SpecOf(s.Inputs), GradSpec(s.Grads)})
}

// UnmarshalJSON parses the quantizer spec strings back.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	var v struct {
		plain
		W string `json:"weights"`
		I string `json:"inputs"`
		G string `json:"grads"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Spec(v.plain)
	var err error
	if s.Weights, err = ste.Parse(v.W); err != nil {
		return fmt.Errorf("models: weights: %w", err)
	}
	if s.Inputs, err = ste.Parse(v.I); err != nil {
		return fmt.Errorf("models: inputs: %w", err)
	}
	if s.Grads, err = ste.Parse(v.G); err != nil {
		return fmt.Errorf("models: grads: %w", err)
	}
	return nil
}

// String is a one-line description, e.g. "lenet5 w=lsq(bits=4) a=lsq(bits=4) first/last=fp".
func (s Spec) String() string {
	p := s.Policy
	if p == "" {
		p = FP
	}
	g := ""
	if s.Grads != nil {
		g = " g=" + s.Grads.String()
	}
	return fmt.Sprintf("%s w=%s a=%s%s first/last=%s%s", s.Name, ste.SpecOf(s.Weights), ste.SpecOf(s.Inputs), g, p, overrideString(s.Override))
}

// Model is a built network.
type Model struct {
	Spec Spec
	Net  *layers.Sequential
	Out  []int // per-sample output shape
}

// Forward adds the network to g.
func (m *Model) Forward(g *layers.Graph, x *gorgonia.Node) (*gorgonia.Node, error) {
	return m.Net.Forward(g, x)
}

// Params lists the learnable tensors.
func (m *Model) Params() []*layers.Param { return m.Net.Params() }

// States lists the non-learnable tensors (BatchNorm running statistics).
func (m *Model) States() []layers.State { return layers.States(m.Net) }

// Builder makes a model's layers from a spec.
type Builder func(s Spec, b *Build) (*layers.Sequential, error)

type entry struct {
	build   Builder
	input   []int
	classes int
	doc     string
}

var registry = map[string]entry{}

// Register adds a model (init time only).
func Register(name, doc string, input []int, classes int, b Builder) {
	if _, dup := registry[name]; dup {
		panic("models: duplicate model " + name)
	}
	registry[name] = entry{b, input, classes, doc}
}

// Names lists the registered models.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckName reports a name that is not a registered model.
func CheckName(name string) error {
	if _, ok := registry[name]; !ok {
		return fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return nil
}

// Check reports an unknown first/last policy.
func (p Policy) Check() error {
	switch p {
	case "", FP, Int8, Same, SameWeights:
		return nil
	}
	return fmt.Errorf("models: unknown first/last policy %q (known: fp, 8bit, same, same-weights)", p)
}

// Check reports an unknown activation.
func (a Act) Check() error {
	switch a {
	case Auto, ReLU, HardTanh, None:
		return nil
	}
	return fmt.Errorf("models: unknown activation %q (known: relu, hardtanh, none)", a)
}

// ErrUnknown reports an unknown model name.
var ErrUnknown = errors.New("models: unknown model")

// New builds the model described by s. Missing Input and Classes take the model's defaults.
func New(s Spec) (*Model, error) {
	if err := CheckName(s.Name); err != nil {
		return nil, err
	}
	e := registry[s.Name]
	if len(s.Input) == 0 {
		s.Input = append([]int(nil), e.input...)
	}
	if s.Classes == 0 {
		s.Classes = e.classes
	}
	if err := checkLimits(&s); err != nil {
		return nil, err
	}
	if err := s.Policy.Check(); err != nil {
		return nil, err
	}
	if err := s.Act.Check(); err != nil {
		return nil, err
	}
	b := &Build{spec: s, rng: rand.New(rand.NewPCG(s.Seed, 0x1b0)), shape: append([]int(nil), s.Input...)}
	net, err := e.build(s, b)
	if err != nil {
		return nil, err
	}
	out, err := net.OutShape(s.Input)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", s.Name, err)
	}
	if prod(out) != s.Classes {
		return nil, fmt.Errorf("models: %s: output %v, want %d classes", s.Name, out, s.Classes)
	}
	return &Model{Spec: s, Net: net, Out: out}, nil
}

// Limits on the models New builds, checked before anything is allocated, so
// a flag or checkpoint header asking for more is an error, not an
// out-of-memory crash.
const (
	// MaxInputSide caps the input height and width; MaxChannels the input
	// channels, every layer's output channels or features, and the classes.
	MaxInputSide, MaxChannels = 4096, 1 << 16
	// MaxWidth caps the channel multiplier Spec.Width.
	MaxWidth = 64
	// MaxActivation caps the values of one sample at any layer's output.
	MaxActivation = 1 << 24
	// MaxParams caps the parameter count of a model (1 GiB of float32).
	MaxParams = 1 << 28
)

// checkLimits checks the spec's sizes against the limits.
func checkLimits(s *Spec) error {
	in := s.Input
	if len(in) != 3 || in[0] <= 0 || in[1] <= 0 || in[2] <= 0 {
		return fmt.Errorf("models: %s: input shape %v, want H,W,C", s.Name, in)
	}
	if in[0] > MaxInputSide || in[1] > MaxInputSide || in[2] > MaxChannels || in[0]*in[1]*in[2] > MaxActivation {
		return fmt.Errorf("models: %s: input shape %v exceeds the limit of %d×%d per image and %d values", s.Name, in, MaxInputSide, MaxInputSide, MaxActivation)
	}
	if s.Classes < 2 || s.Classes > MaxChannels {
		return fmt.Errorf("models: %s: %d classes, want 2 to %d", s.Name, s.Classes, MaxChannels)
	}
	if len(s.ClassNames) != 0 && len(s.ClassNames) != s.Classes {
		return fmt.Errorf("models: %s: %d class names for %d classes", s.Name, len(s.ClassNames), s.Classes)
	}
	if !(s.Width >= 0 && s.Width <= MaxWidth) { // NaN fails both
		return fmt.Errorf("models: %s: width %g outside the limit [0, %d] (0 means 1)", s.Name, s.Width, MaxWidth)
	}
	for i, h := range s.Hidden {
		if h < 1 || h > MaxChannels {
			return fmt.Errorf("models: %s: hidden width %d (layer %d) outside the limit [1, %d]", s.Name, h, i+1, MaxChannels)
		}
	}
	if !(s.Dropout >= 0 && s.Dropout < 1) {
		return fmt.Errorf("models: %s: dropout %g outside [0, 1)", s.Name, s.Dropout)
	}
	return nil
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// GradSpec is the JSON form of a gradient quantizer: "" when there is none.
func GradSpec(q ste.Quantizer) string {
	if q == nil {
		return ""
	}
	return q.String()
}
