// Package optim holds the optimizers, learning-rate schedules and
// latent-weight utilities used to train quantized networks.
//
// Parameters are plain float32 slices updated in place: the training loop
// fills [Param.Grad] each step and calls [Optimizer.Step]. The package uses
// the standard library only, so it can be tested and reused without a graph
// engine.
//
// What is here:
//
//   - [SGD] with momentum, dampening, Nesterov and L2 weight decay, and
//     [Adam] / AdamW (decoupled decay), all following PyTorch's update rules
//     (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW).
//   - [Bop], the Binary Optimizer of Helwegen et al. 2019, "Latent Weights Do
//     Not Exist" (https://arxiv.org/abs/1906.02107), which flips ±1 weights
//     directly and hands all other parameters to an inner optimizer, like
//     Larq's CaseOptimizer.
//   - [ClipLatent] for the BNN recipe's clipping of latent weights to [−1, 1],
//     and [FlipCounter], which reports the share of binary weights whose sign
//     changed over an epoch.
//   - Schedules: [Constant], [Step], [MultiStep], [Cosine], [Exponential] and
//     [Warmup].
//   - Gradient helpers: [ClipGradNorm] and [HasNonFinite].
//   - A registry: [New] builds an optimizer by name from a [Config] whose zero
//     value is useful; [Names] lists the known names.
//
// Weight decay applies only to parameters of [Kind] Weight unless the
// optimizer's DecayAll is set or the parameter carries its own
// [Param.Decay]. Biases, batch-norm parameters and quantizer parameters
// (LSQ steps, PACT alphas, TTQ scales, centroids) are not decayed by default.
//
// Every optimizer serialises its moments and step counters exactly
// ([Optimizer.State], [Optimizer.SetState]): restoring the bytes into a fresh
// optimizer of the same kind continues training bit for bit.
//
// Optimizers are not safe for concurrent use.
package optim
