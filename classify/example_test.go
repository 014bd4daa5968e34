package classify_test

import (
	"fmt"
	"image"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
)

// Classify an image with a packed model; the model file carries the input
// normalisation and the class names.
func Example() {
	m, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	bm, err := export.FreezeWith(m, bitpack.ModelInfo{Mean: []float32{0.1307}, Std: []float32{0.3081},
		ClassNames: []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := classify.New(bm)
	if err != nil {
		fmt.Println(err)
		return
	}
	img := image.NewGray(image.Rect(0, 0, 56, 56)) // resized to 28×28
	labels, err := c.Classify(img, 3)
	fmt.Println(len(labels), err, labels[0].Prob >= labels[1].Prob && labels[1].Prob >= labels[2].Prob)
	// Output: 3 <nil> true
}
