// Package bench regenerates lowbit's tables: kernel speed (packed kernels
// against float32 GEMM), training-step speed (against PyTorch when present),
// the accuracy grid of the recipes, and the ImageNet-style benchmark. Every
// report records the command that made it and the machine it ran on.
package bench
