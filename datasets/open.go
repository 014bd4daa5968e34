package datasets

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Names lists the dataset names Open resolves.
func Names() []string {
	return []string{"cifar10", "cifar100", "fashion-mnist", "imagefolder", "imagenette", "mnist"}
}

// Open returns split ("train", "test" or "val") of the dataset called name,
// located with Locate(name, dir):
//
//   - "mnist", "fashion-mnist": IDX files (MNIST, FashionMNIST);
//   - "cifar10": the binary batches when the directory holds
//     data_batch_1.bin, else an ImageFolder with train/ and test/ (CIFAR10);
//   - "cifar100": train.bin and test.bin (CIFAR100);
//   - "imagenette", "imagefolder": an ImageFolder of dir/train and dir/val
//     (or dir/test) with ImageNetTrain(224) on "train" and ImageNetEval(224)
//     otherwise, unless opts.Transform is set; the other splits take their
//     class list from dir/train unless opts.Classes or opts.ClassIndex is set.
func Open(name, split, dir string, opts Options) (Dataset, error) {
	switch name {
	case "mnist":
		return MNIST(dir, split, opts)
	case "fashion-mnist":
		return FashionMNIST(dir, split, opts)
	case "cifar10":
		return CIFAR10(dir, split, opts)
	case "cifar100":
		return CIFAR100(dir, split, opts)
	case "imagenette", "imagefolder":
		root, err := Locate(name, dir)
		if err != nil {
			return nil, err
		}
		sub, err := splitDir(root, split)
		if err != nil {
			return nil, err
		}
		def := ImageNetEval(224)
		if split == "train" {
			def = ImageNetTrain(224)
		}
		p := opts.pipeline(def)
		o := opts
		o.Transform, o.Scaling = &p, Standardize
		if split != "train" && len(o.Classes) == 0 && o.ClassIndex == "" && isDir(filepath.Join(root, "train")) {
			// Label by the training split's classes, so a val/ missing a
			// class does not renumber the others.
			if o.Classes, err = ClassFolders(filepath.Join(root, "train")); err != nil {
				return nil, err
			}
		}
		return ImageFolder(sub, o)
	}
	return nil, fmt.Errorf("datasets: unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
}
