package datasets

import "strconv"

// InputNorm returns the per-channel mean and std that map a pixel p/255 in
// [0, 1] to a model input, x = (p/255 − mean)/std, as Open's loaders do for
// dataset name with scaling sc and c channels: Unit is mean 0, std 1;
// Symmetric is mean 0.5, std 0.5; Standardize uses the dataset's statistics
// (MNIST, Fashion-MNIST, CIFAR; ImageNet's for ImageFolder data). It returns
// nil for more than 3 channels (not an image).
func InputNorm(name string, sc Scaling, c int) (mean, std []float32) {
	if c < 1 || c > 3 {
		return nil, nil
	}
	var m3, s3 [3]float32
	switch sc {
	case Unit:
		s3 = [3]float32{1, 1, 1}
	case Symmetric:
		m3, s3 = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
	default:
		switch name {
		case "mnist", "":
			m3, s3 = [3]float32{MNISTMean, MNISTMean, MNISTMean}, [3]float32{MNISTStd, MNISTStd, MNISTStd}
		case "fashion-mnist":
			m3, s3 = [3]float32{FashionMean, FashionMean, FashionMean}, [3]float32{FashionStd, FashionStd, FashionStd}
		case "cifar10", "cifar100":
			m3, s3 = cifarMean, cifarStd
		default:
			m3, s3 = imageNetMean, imageNetStd
		}
	}
	return append([]float32(nil), m3[:c]...), append([]float32(nil), s3[:c]...)
}

// ClassNames returns the class names, in label order, of the built-in
// dataset name ("" means mnist), or nil for ImageFolder data, whose classes
// are its directory names (see ImageFolder).
func ClassNames(name string) []string {
	switch name {
	case "mnist", "":
		out := make([]string, 10)
		for i := range out {
			out[i] = strconv.Itoa(i)
		}
		return out
	case "fashion-mnist":
		return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	case "cifar10":
		return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	case "cifar100":
		return append([]string(nil), cifar100Names...)
	}
	return nil
}

// cifar100Names are CIFAR-100's fine labels in label order (meta file
// fine_label_names).
var cifar100Names = []string{
	"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
	"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
	"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
	"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
	"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
	"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
	"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
	"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
	"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
	"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
}
