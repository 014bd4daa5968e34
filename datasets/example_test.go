package datasets_test

import (
	"fmt"

	"github.com/lowbit/lowbit/datasets"
)

// Read MNIST (here the 100-image sample in testdata; pass "" to find the full
// set) and walk one shuffled epoch in batches of 32.
func Example() {
	ds, err := datasets.Open("mnist", "train", "testdata/mnist", datasets.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, w, c := ds.Shape()
	fmt.Printf("%d examples of %dx%dx%d, %d classes\n", ds.Len(), h, w, c, ds.NumClasses())

	l, err := datasets.NewLoader(ds, datasets.LoaderConfig{Batch: 32, Shuffle: true, Seed: 1, Workers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	it := l.Epoch(0)
	defer it.Close()
	var b datasets.Batch
	for it.Next(&b) {
		fmt.Printf("batch of %d: %d values, first labels %v\n", b.N, len(b.X), b.Y[:4])
	}
	if err := it.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 100 examples of 28x28x1, 10 classes
	// batch of 32: 25088 values, first labels [4 0 1 3]
	// batch of 32: 25088 values, first labels [2 7 9 6]
	// batch of 32: 25088 values, first labels [4 4 4 4]
	// batch of 4: 3136 values, first labels [4 1 1 1]
}
