// Package ste holds lowbit's quantizers as Gorgonia ops whose backward pass is
// a straight-through estimator (STE).
//
// A quantizer is a small struct value (Sign{}, LSQ{Bits: 4}, ...) that describes
// q(x) and its surrogate gradient q'(x). Its fields' `q` tags are its schema:
// Parse, Format (String), Resolve (defaults and range checks) and Doc all read
// them, so a quantizer states no parsing or validation code. It also declares
// what other packages need (BitsFor, Symmetric, DataInit) so none of them
// switches on its type.
//
// Build turns a quantizer into a Func for one tensor (a layer's weights or its
// inputs), which may carry learnable parameters such as LSQ's step size. Apply
// adds it to a Gorgonia graph through one generic op (internal/graphop), so
// every quantizer gets the same hashing, shape and gradient plumbing; the graph
// node owns whatever memory a Stateful Func keeps between calls.
//
// A Func whose output depends on the value alone gives its inference-time
// function as a plain descriptor (Inferer, Desc). The forward pass evaluates
// that descriptor with the scalar code of internal/qfunc, which the packed
// engine (bitpack) runs too, so export reproduces training bit for bit.
//
// Conventions (the README's quantizer table): sign(0) = +1; round is
// round-half-to-even; clip(x,a,b) = min(max(x,a),b). Rows is the leading
// dimension of the tensor: output channels for weights (OHWI conv or [Out][In]
// dense), the batch for activations.
//
// docs/adding-a-quantizer.md walks through adding one, with example_test.go's
// Ternary as the template.
package ste
