// Package ste holds lowbit's quantizers as Gorgonia ops whose backward pass is
// a straight-through estimator (STE).
//
// A quantizer is a small value type (Sign{}, LSQ{Bits: 4}, ...) that describes
// q(x) and its surrogate gradient q'(x). Build turns it into a Func for one
// tensor (a layer's weights or its inputs), which may carry learnable
// parameters such as LSQ's step size. Apply adds the quantizer to a Gorgonia
// graph through one generic op (internal/graphop), so every quantizer gets the
// same hashing, shape and gradient plumbing.
//
// Conventions (see REFERENCE.md): sign(0) = +1; round is round-half-to-even;
// clip(x,a,b) = min(max(x,a),b). Rows is the leading dimension of the tensor:
// output channels for weights (OHWI conv or [Out][In] dense), the batch for
// activations.
package ste
