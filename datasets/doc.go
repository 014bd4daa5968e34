// Package datasets reads the image-classification data lowbit trains on and
// feeds it to the training loop in deterministic batches.
//
// Every dataset implements [Dataset]: examples are float32 images in NHWC
// order (for one example H×W×C, channel fastest) with int32 labels.
//
// Readers:
//   - IDX ([ReadIDX], [MNIST], [FashionMNIST]): raw or gzip files, magic
//     0x00000803 (images) and 0x00000801 (labels).
//   - CIFAR-10/100 binary ([ReadCIFAR], [CIFAR10], [CIFAR100]): records of
//     label byte(s) followed by 3072 CHW bytes, converted to NHWC.
//   - [ImageFolder]: dir/<class>/*.{jpg,jpeg,png}; greyscale and CMYK
//     JPEGs become RGB; corrupt files are skipped and counted, or are an
//     error under Options.Strict.
//
// [Locate] finds a dataset without a manual step (an explicit directory,
// $LOWBIT_DATA, the GoMNIST module in the Go module cache, the Debian
// dataset-fashion-mnist package, or shared/data above the working
// directory) and [Open] resolves a dataset by name.
//
// Images pass through a [Pipeline] (random-resized crop, resize and centre
// crop, padded random crop, horizontal flip, normalisation), given a
// per-example RNG at training time and nil for evaluation. The presets
// [ImageNetTrain], [ImageNetEval], [CIFARTrain] and [CIFAREval] follow
// torchvision.
//
// A [Loader] decodes examples on several workers with bounded prefetch. The
// shuffle of epoch e comes from rand.NewPCG(Seed, e) and each example's
// transform RNG from (Seed, epoch, index), so the batches of an epoch depend
// only on (Seed, epoch) and never on the number of workers.
package datasets
