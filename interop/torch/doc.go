// Package torch moves float weights between lowbit models and PyTorch state_dicts,
// so a run can start from a PyTorch model (LSQ's protocol: QAT from a trained
// full-precision network, Esser et al. 2020, https://arxiv.org/abs/1902.08153) and a
// trained model can go back to PyTorch.
//
// Files: safetensors (read and write, github.com/nlpodyssey/safetensors) and the zip
// files of torch.save (PyTorch ≥ 1.6; read only, through github.com/nlpodyssey/gopickle's
// unpickler). TorchScript archives and the legacy pre-1.6 format are refused. Floats
// may be F32, F16, BF16 or F64 and become float32; BatchNorm's num_batches_tracked is
// ignored on import. A .pt file may hold the state_dict itself or a dict whose
// "state_dict" or "model" entry is one. Files over MaxFileBytes, and pickles over
// MaxPickleBytes, are refused before anything is allocated from them.
//
// # Layouts
//
// Each supported model has a PyTorch layout: the module names and shapes its
// state_dict has (interop/torch/testdata/make_torch_fixtures.py builds them in
// PyTorch). Conv2d weights are [out][in][kh][kw] (OIHW) in PyTorch and OHWI in lowbit;
// Linear weights are [out][in] in both, but when a Linear follows a spatial map PyTorch
// flattens it as C·H·W and lowbit as H·W·C, so that Linear's columns are permuted.
// BatchNorm's weight, bias, running_mean and running_var are lowbit's γ, β and running
// statistics.
//
//	lenet5     conv1, bn1, conv2, bn2, fc1, bn3, fc2: each kind numbered from 1 in forward order
//	alexnet    conv1..conv5, bn1..bn7, fc1..fc3, the same rule (bn6, bn7 follow fc1, fc2)
//	mlp        fc1.., bn1.., the same rule
//	vgg-small  conv0..conv5, bn0..bn5, fc (IR-Net's and LSQ's CIFAR VGG-small)
//	resnet20   torchvision's ResNet names: conv1, bn1, layerS.B.{conv1,bn1,conv2,bn2},
//	resnet18   layerS.B.downsample.{0,1} for the 1×1 projections, fc
//
// Convolutions and Linears have a bias exactly where lowbit's have one (none before
// BatchNorm; the classifier always). A model built with NoBN has conv biases and no
// bn entries; the numbering rule still applies. A BatchNorm on the logits (binary last
// layers) is bnN under the numbering rule and fc_bn in the ResNet and VGG layouts.
// Width multipliers change shapes, not names. Bi-Real Net and Larq's CNN have no
// PyTorch layout here.
//
// Quantizers are not part of a state_dict: an import leaves a model's quantizer
// parameters as they are (recipes.InitFrom then re-derives them from the loaded
// weights), and Export writes the latent float weights of a quantized model, never
// q(W), and no quantizer parameter.
package torch
