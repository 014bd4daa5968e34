// Package classify turns images into top-k labels with a packed model
// (bitpack.Model): it decodes PNG and JPEG under a pixel limit, applies the
// input transform the model file records (resize the shorter side to the
// input size, centre-crop, normalise with the file's per-channel mean and
// std, as the datasets package did in training), runs the model on a batch
// and returns the k most likely classes with their softmax probabilities
// and names. `lowbit infer` and `lowbit serve` both use it, so a served
// answer equals the command line's for the same image.
//
// A model file without input normalisation (written by a script before
// export.Write required it) is refused with ErrNoNormalisation rather than
// read with a guessed scaling, which silently costs accuracy; re-export it
// with `lowbit export CKPT`. A model without class names is labelled
// "class N".
package classify
