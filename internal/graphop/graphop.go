// Package graphop carries the Gorgonia plumbing shared by every custom op in
// lowbit: quantizers (package ste) and layer kernels (package layers).
//
// A Kernel supplies a forward function over float32 slices and, next to it,
// the gradient with respect to each input. Apply wraps a Kernel into a
// gorgonia.Op (plus gorgonia.SDOp for symbolic differentiation), so that
// gorgonia.Grad builds one gradient node per differentiable input. Each node
// gets its own op value with a unique hash (equal hashes would merge nodes)
// and its own output buffer, reused across steps, so the training loop does
// not allocate per step.
package graphop

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Tensor is a float32 view of one op input or output. A scalar has an empty Shape and one element.
type Tensor struct {
	Data  []float32
	Shape tensor.Shape
}

// Kernel is a differentiable function of float32 tensors.
type Kernel interface {
	// String names the kernel and its parameters, e.g. "conv2d(3x3,s1,p1)".
	String() string
	// OutShape returns the output shape for the given input shapes; an empty shape means a scalar.
	OutShape(in []tensor.Shape) (tensor.Shape, error)
	// Forward writes the output into out.Data (already sized; its old contents are garbage).
	Forward(out Tensor, in []Tensor) error
	// DiffWRT reports whether the output is differentiable with respect to input i.
	DiffWRT(i int) bool
	// Backward writes ∂L/∂in[wrt] into dIn.Data (already sized; old contents are garbage),
	// given the forward inputs, the forward output and the upstream gradient dOut.
	Backward(wrt int, dIn Tensor, in []Tensor, out, dOut Tensor) error
}

// ErrValue reports an input Value that is not a float32 tensor or scalar.
var ErrValue = errors.New("graphop: input is not float32")

var nextID atomic.Uint64

// Apply adds k applied to inputs to their graph and returns the output node.
func Apply(k Kernel, inputs ...*gorgonia.Node) (*gorgonia.Node, error) {
	return apply(k, nil, inputs)
}

// ApplyGradMap is Apply whose output's upstream gradient passes through gm
// before k's Backward sees it: the gradient of an identity op placed on the
// output (DoReFa's gradient quantizer), without the identity's forward copy
// and its second activation buffer. gm is a Kernel of one input whose Forward
// is the identity and is never called; its Backward(0, dIn, [y], y, dOut)
// maps the upstream gradient dOut, with y the output of k. The mapped
// gradient is one graph node, computed once and read by every Backward of k.
func ApplyGradMap(k, gm Kernel, inputs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if gm == nil || !gm.DiffWRT(0) {
		return nil, fmt.Errorf("graphop: %v: gradient map %v is not differentiable", k, gm)
	}
	return apply(k, gm, inputs)
}

func apply(k, gm Kernel, inputs []*gorgonia.Node) (*gorgonia.Node, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("graphop: %v: no inputs", k)
	}
	dims := make([]int, len(inputs))
	shapes := make([]tensor.Shape, len(inputs))
	for i, n := range inputs {
		dims[i] = n.Dims()
		shapes[i] = n.Shape().Clone()
		if n.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("graphop: %v: input %d (%s) is %v, want float32", k, i, n.Name(), n.Dtype())
		}
	}
	outShape, err := k.OutShape(shapes)
	if err != nil {
		return nil, fmt.Errorf("graphop: %v: %w", k, err)
	}
	op := &fwdOp{k: k, gm: gm, id: nextID.Add(1), inDims: dims, outDims: len(outShape)}
	n, err := gorgonia.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("graphop: %v: %w", k, err)
	}
	return n, nil
}

func typeOf(dims int) hm.Type {
	if dims == 0 {
		return tensor.Float32
	}
	return gorgonia.TensorType{Dims: dims, Of: tensor.Float32}
}

// buffer keeps one output value per op node and reuses it while the shape holds.
type buffer struct {
	dense  *tensor.Dense
	scalar *gorgonia.F32
	one    [1]float32 // a scalar output's data before it is copied into scalar
}

func (b *buffer) get(shape tensor.Shape) (gorgonia.Value, Tensor) {
	if len(shape) == 0 {
		if b.scalar == nil {
			b.scalar = gorgonia.NewF32(0)
		}
		return b.scalar, Tensor{Data: b.one[:]}
	}
	if b.dense == nil || !b.dense.Shape().Eq(shape) {
		b.dense = tensor.New(tensor.WithShape(shape.Clone()...), tensor.Of(tensor.Float32))
	}
	return b.dense, Tensor{Data: b.dense.Data().([]float32), Shape: b.dense.Shape()}
}

// finish copies a scalar result into its F32 value.
func (b *buffer) finish(v gorgonia.Value, t Tensor) {
	if s, ok := v.(*gorgonia.F32); ok {
		*s = gorgonia.F32(t.Data[0])
	}
}

func view(v gorgonia.Value) (Tensor, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		d, ok := x.Data().([]float32)
		if !ok {
			if f, ok := x.Data().(float32); ok { // a 0-dim dense tensor
				return Tensor{Data: []float32{f}}, nil
			}
			return Tensor{}, fmt.Errorf("%w: %v", ErrValue, x.Dtype())
		}
		return Tensor{Data: d, Shape: x.Shape()}, nil
	case *gorgonia.F32:
		return Tensor{Data: []float32{float32(*x)}}, nil
	}
	return Tensor{}, fmt.Errorf("%w: %T", ErrValue, v)
}

func views(vals []gorgonia.Value) ([]Tensor, error) {
	out := make([]Tensor, len(vals))
	for i, v := range vals {
		t, err := view(v)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		out[i] = t
	}
	return out, nil
}

func shapesOf(ds []gorgonia.DimSizer) ([]tensor.Shape, error) {
	out := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("graphop: input %d has no shape", i)
		}
		out[i] = s
	}
	return out, nil
}

// fwdOp is the gorgonia.Op for one application of a Kernel.
type fwdOp struct {
	k       Kernel
	gm      Kernel // maps the upstream gradient first (ApplyGradMap); nil: none
	id      uint64
	inDims  []int
	outDims int
	out     buffer
}

func (o *fwdOp) Arity() int { return len(o.inDims) }
func (o *fwdOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, typeOf(d))
	}
	ts = append(ts, typeOf(o.outDims))
	return hm.NewFnType(ts...)
}
func (o *fwdOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(ds)
	if err != nil {
		return nil, err
	}
	return o.k.OutShape(s)
}
func (o *fwdOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := views(vals)
	if err != nil {
		return nil, fmt.Errorf("graphop: %v: %w", o.k, err)
	}
	shapes := make([]tensor.Shape, len(in))
	for i := range in {
		shapes[i] = in[i].Shape
	}
	s, err := o.k.OutShape(shapes)
	if err != nil {
		return nil, fmt.Errorf("graphop: %v: %w", o.k, err)
	}
	v, t := o.out.get(s)
	if err := o.k.Forward(t, in); err != nil {
		return nil, fmt.Errorf("graphop: %v: %w", o.k, err)
	}
	o.out.finish(v, t)
	return v, nil
}
func (o *fwdOp) ReturnsPtr() bool      { return false }
func (o *fwdOp) CallsExtern() bool     { return false }
func (o *fwdOp) OverwritesInput() int  { return -1 }
func (o *fwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%v#%d", o.k, o.id) }
func (o *fwdOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *fwdOp) String() string { return o.k.String() }

func (o *fwdOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = o.k.DiffWRT(i)
	}
	return out
}

// SymDiff returns one gradient node per input: the kernel's Backward for
// differentiable inputs, nil for the others.
func (o *fwdOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	ret := make(gorgonia.Nodes, len(inputs))
	if o.gm != nil {
		m := &bwdOp{k: o.gm, fwdID: o.id, inDims: []int{o.outDims}, outDims: o.outDims, mapOut: true}
		g, err := gorgonia.ApplyOp(m, output, grad)
		if err != nil {
			return nil, fmt.Errorf("graphop: %v: gradient map %v: %w", o.k, o.gm, err)
		}
		grad = g
	}
	children := make(gorgonia.Nodes, 0, len(inputs)+2)
	children = append(children, inputs...)
	children = append(children, output, grad)
	for i := range inputs {
		if !o.k.DiffWRT(i) {
			continue
		}
		b := &bwdOp{k: o.k, fwdID: o.id, wrt: i, inDims: o.inDims, outDims: o.outDims}
		n, err := gorgonia.ApplyOp(b, children...)
		if err != nil {
			return nil, fmt.Errorf("graphop: %v: gradient of input %d: %w", o.k, i, err)
		}
		ret[i] = n
	}
	return ret, nil
}

// bwdOp computes the gradient of one fwdOp with respect to one input.
// Its inputs are the forward inputs, the forward output and the upstream gradient.
// A gradient map (mapOut) is the backward of an identity on a fwdOp's output:
// its inputs are that output (standing for the identity's input and output)
// and the upstream gradient.
type bwdOp struct {
	k       Kernel
	fwdID   uint64
	wrt     int
	inDims  []int
	outDims int
	mapOut  bool
	out     buffer
}

func (o *bwdOp) Arity() int {
	if o.mapOut {
		return 2
	}
	return len(o.inDims) + 2
}
func (o *bwdOp) Type() hm.Type {
	if o.mapOut {
		t := typeOf(o.outDims)
		return hm.NewFnType(t, t, t)
	}
	ts := make([]hm.Type, 0, len(o.inDims)+3)
	for _, d := range o.inDims {
		ts = append(ts, typeOf(d))
	}
	ts = append(ts, typeOf(o.outDims), typeOf(o.outDims), typeOf(o.inDims[o.wrt]))
	return hm.NewFnType(ts...)
}
func (o *bwdOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(ds)
	if err != nil {
		return nil, err
	}
	if o.wrt >= len(s) {
		return nil, fmt.Errorf("graphop: gradient of input %d of %d", o.wrt, len(s))
	}
	return s[o.wrt].Clone(), nil
}
func (o *bwdOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	all, err := views(vals)
	if err != nil {
		return nil, fmt.Errorf("graphop: grad %v: %w", o.k, err)
	}
	if o.mapOut {
		all = []Tensor{all[0], all[0], all[1]} // the identity's input is its output
	}
	n := len(o.inDims)
	in, out, dOut := all[:n], all[n], all[n+1]
	v, t := o.out.get(in[o.wrt].Shape)
	if err := o.k.Backward(o.wrt, t, in, out, dOut); err != nil {
		return nil, fmt.Errorf("graphop: grad %v wrt input %d: %w", o.k, o.wrt, err)
	}
	o.out.finish(v, t)
	return v, nil
}
func (o *bwdOp) ReturnsPtr() bool     { return false }
func (o *bwdOp) CallsExtern() bool    { return false }
func (o *bwdOp) OverwritesInput() int { return -1 }
func (o *bwdOp) WriteHash(h hash.Hash) {
	if o.mapOut {
		fmt.Fprintf(h, "gradmap(%v#%d)", o.k, o.fwdID)
		return
	}
	fmt.Fprintf(h, "grad(%v#%d)/%d", o.k, o.fwdID, o.wrt)
}
func (o *bwdOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *bwdOp) String() string {
	if o.mapOut {
		return fmt.Sprintf("∂%v", o.k)
	}
	return fmt.Sprintf("∂%v/∂in%d", o.k, o.wrt)
}

// DiffWRT: gradients are not differentiated again (no second-order training).
func (o *bwdOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (o *bwdOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("graphop: %v: second-order gradients are not supported", o)
}
