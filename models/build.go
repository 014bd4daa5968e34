package models

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// Position is where a layer sits, which decides its quantizers under the Spec's Policy.
type Position int

const (
	Body Position = iota
	First
	Last
	// Real is always full precision, whatever the Policy: layers the paper keeps
	// real-valued inside the body (Bi-Real Net's downsampling 1×1 convs).
	Real
)

// Build appends layers while tracking the per-sample shape, so builders stay short.
// The first error sticks; Seq reports it.
type Build struct {
	spec  Spec
	rng   *rand.Rand
	shape []int
	count *int
	// params counts the parameters allocated so far (shared with Sub builders).
	params *int
	ls     []layers.Layer
	err    error
}

// reserve counts n more parameters (weights and bias of a layer about to be
// allocated) and refuses, before the allocation, a layer or model over the limits.
func (b *Build) reserve(layer string, fanIn, out int) bool {
	if b.params == nil {
		b.params = new(int)
	}
	n := int64(fanIn)*int64(out) + int64(out)
	switch {
	case out > MaxChannels:
		b.err = fmt.Errorf("%s: %d output channels exceeds the limit of %d", layer, out, MaxChannels)
	case fanIn > MaxActivation || n > MaxParams || int64(*b.params)+n > MaxParams:
		b.err = fmt.Errorf("%s: %d×%d weights bring the model over the limit of %d parameters", layer, fanIn, out, MaxParams)
	default:
		*b.params += int(n)
		return true
	}
	return false
}

// Shape is the current per-sample shape (H, W, C or features).
func (b *Build) Shape() []int { return b.shape }

func (b *Build) name(kind string) string {
	if b.count == nil {
		b.count = new(int)
	}
	*b.count++
	return fmt.Sprintf("%s%d", kind, *b.count)
}

func (b *Build) add(l layers.Layer, err error) {
	if b.err != nil {
		return
	}
	if err != nil {
		b.err = err
		return
	}
	out, err := l.OutShape(b.shape)
	if err != nil {
		b.err = err
		return
	}
	if n := prod(out); n > MaxActivation {
		b.err = fmt.Errorf("%s: output %v holds %d values per sample, over the limit of %d", l.Name(), out, n, MaxActivation)
		return
	}
	b.ls = append(b.ls, l)
	b.shape = out
}

// quantizers returns the weight and input quantizers for a position.
func (b *Build) quantizers(p Position) (w, in ste.Quantizer) {
	s := b.spec
	switch {
	case p == Real:
		return nil, nil
	case p == Body:
		return s.Weights, s.Inputs
	case s.Policy == Same:
		return s.Weights, s.Inputs
	case s.Policy == SameWeights && p == First:
		return s.Weights, nil
	case s.Policy == SameWeights:
		return s.Weights, s.Inputs
	case s.Policy == Int8:
		// The image is signed; the last layer's input is signed unless it follows a ReLU.
		return ste.LSQ{Bits: 8}, ste.LSQ{Bits: 8, Signed: p == First || b.act() != ReLU}
	}
	return nil, nil
}

// grads returns the gradient quantizer of a body layer, with its own noise seed.
func (b *Build) grads(p Position, layer string) ste.Quantizer {
	if p != Body || b.spec.Grads == nil {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(layer))
	return ste.Reseed(b.spec.Grads, b.spec.Seed^h.Sum64())
}

func (b *Build) act() Act {
	if b.spec.Act != Auto {
		return b.spec.Act
	}
	if q := b.spec.Inputs; q != nil && q.Symmetric() { // a ReLU would cut off its negative levels
		return HardTanh
	}
	return ReLU
}

// Conv adds a square convolution (no bias when followed by BatchNorm).
func (b *Build) Conv(out, kernel, stride, pad int, p Position) {
	if b.err != nil {
		return
	}
	if len(b.shape) != 3 {
		b.err = fmt.Errorf("models: conv after a flat shape %v", b.shape)
		return
	}
	name := b.name("conv")
	if !b.reserve(name, kernel*kernel*b.shape[2], out) {
		return
	}
	w, in := b.layerQuantizers(p, name)
	l, err := layers.NewConv2D(name, layers.Conv2DConfig{
		In: b.shape[2], Out: out, Kernel: kernel, Stride: stride, Pad: pad,
		NoBias: !b.spec.NoBN, Weights: w, Inputs: in, Grads: b.grads(p, name),
	}, b.rng)
	b.add(l, err)
}

// Dense adds a fully connected layer (flattening first when needed); it has a bias
// unless BatchNorm follows (the last layer always has one).
func (b *Build) Dense(out int, p Position) { b.dense(out, p, !b.spec.NoBN && p != Last) }

func (b *Build) dense(out int, p Position, noBias bool) {
	if b.err != nil {
		return
	}
	if len(b.shape) != 1 {
		b.Flatten()
	}
	name := b.name("dense")
	if !b.reserve(name, prod(b.shape), out) {
		return
	}
	w, in := b.layerQuantizers(p, name)
	l, err := layers.NewDense(name, layers.DenseConfig{
		In: prod(b.shape), Out: out, NoBias: noBias, Weights: w, Inputs: in, Grads: b.grads(p, name),
	}, b.rng)
	b.add(l, err)
}

// BN adds BatchNorm over the channels, unless the spec turns it off.
func (b *Build) BN() {
	if b.err != nil || b.spec.NoBN {
		return
	}
	l, err := layers.NewBatchNorm(b.name("bn"), layers.BatchNormConfig{C: b.shape[len(b.shape)-1]})
	b.add(l, err)
}

// LastBN adds BatchNorm on the logits when the last layer is binary-quantized (its
// ±1 weights give logits of size ~√fan-in; BNN and Larq's tutorial normalise them).
func (b *Build) LastBN() {
	if w, _ := b.quantizers(Last); w != nil && ste.BitsFor(w, ste.Weights) == 1 {
		b.BN()
	}
}

// Act adds the spec's activation.
func (b *Build) Act() {
	switch b.act() {
	case ReLU:
		b.add(layers.ReLU(b.name("relu")), nil)
	case HardTanh:
		b.add(layers.HardTanh(b.name("hardtanh")), nil)
	}
}

// MaxPool adds a max pooling layer.
func (b *Build) MaxPool(size, stride int) {
	b.add(layers.MaxPool(b.name("maxpool"), layers.PoolConfig{Size: size, Stride: stride}), nil)
}

// AvgPool adds an average pooling layer.
func (b *Build) AvgPool(size, stride int) {
	b.add(layers.AvgPool(b.name("avgpool"), layers.PoolConfig{Size: size, Stride: stride}), nil)
}

// GlobalAvgPool averages each channel over the whole map.
func (b *Build) GlobalAvgPool() {
	b.add(layers.AvgPool(b.name("gap"), layers.PoolConfig{Global: true}), nil)
}

// Flatten flattens the map.
func (b *Build) Flatten() { b.add(layers.NewFlatten(b.name("flatten")), nil) }

// Dropout adds dropout with probability p when p > 0.
func (b *Build) Dropout(p float32) {
	if p <= 0 {
		return
	}
	name := b.name("dropout")
	l, err := layers.NewDropout(name, p, b.spec.Seed^uint64(*b.count)*0x9e3779b97f4a7c15)
	b.add(l, err)
}

// Sub starts a builder for a branch that begins at the current shape (residual bodies).
func (b *Build) Sub() *Build {
	if b.count == nil {
		b.count = new(int) // shared with the branch, so layer names stay unique
	}
	if b.params == nil {
		b.params = new(int)
	}
	return &Build{spec: b.spec, rng: b.rng, shape: append([]int(nil), b.shape...), count: b.count, params: b.params, err: b.err}
}

// Residual adds body(x) + shortcut(x); a nil shortcut is the identity.
func (b *Build) Residual(body, shortcut *Build) {
	if b.err != nil {
		return
	}
	for _, s := range []*Build{body, shortcut} {
		if s != nil && s.err != nil {
			b.err = s.err
			return
		}
	}
	var sc layers.Layer
	if shortcut != nil {
		sc = layers.NewSequential(b.name("shortcut"), shortcut.ls...)
	}
	b.add(layers.NewResidual(b.name("res"), layers.NewSequential(b.name("body"), body.ls...), sc), nil)
}

// Seq returns the built layers, or the first error.
func (b *Build) Seq() (*layers.Sequential, error) {
	if b.err != nil {
		return nil, fmt.Errorf("models: %s: %w", b.spec.Name, b.err)
	}
	return layers.NewSequential(b.spec.Name, b.ls...), nil
}
