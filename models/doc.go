// Package models builds lowbit's networks (MLP, LeNet-5, and the CIFAR and
// ImageNet families) from a Spec: the architecture name, the quantizers of the
// body's weights and inputs, and the precision policy of the first and last
// layers. A Spec is plain data, saved in checkpoints, so a checkpoint rebuilds
// its own model.
package models
