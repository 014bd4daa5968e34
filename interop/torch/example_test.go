package torch_test

import (
	"fmt"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
)

// Loading a PyTorch LeNet-5 state_dict (made by testdata/make_torch_fixtures.py) into
// lowbit's LeNet-5, and the names and shapes it was matched by.
func Example() {
	m, err := models.New(models.Spec{Name: "lenet5"})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := torch.LoadFile(m, "testdata/lenet5.pt", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep)
	names, shapes, _ := torch.Layout(m)
	for i := range 3 {
		fmt.Println(names[i], shapes[i])
	}
	// Output:
	// 17 tensors loaded
	// conv1.weight [20 1 5 5]
	// bn1.weight [20]
	// bn1.bias [20]
}
