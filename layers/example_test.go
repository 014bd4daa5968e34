package layers_test

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ste"
)

// Example trains one step's worth of a tiny binarized classifier: build a
// training graph, add the layers and the loss, differentiate, run, and read
// the gradients of the latent weights.
func Example() {
	rng := rand.New(rand.NewPCG(1, 1))
	fc, err := layers.NewDense("fc", layers.DenseConfig{In: 3, Out: 2, NoBias: true, Weights: ste.Sign{}}, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(fc.W.Data(), []float32{0.5, -0.25, 2, -0.5, 0.75, 0.1}) // latent weights; sign gives ±1

	var step uint64
	g := layers.NewGraph(true, &step)
	x, xt := g.Input("x", 2, 3)
	copy(xt.Data().([]float32), []float32{1, 2, 3, -1, 0, 1})
	labels, lt := g.Input("labels", 2)
	copy(lt.Data().([]float32), []float32{0, 1})

	logits, err := fc.Forward(g, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss, err := layers.CrossEntropy(logits, labels)
	if err != nil {
		fmt.Println(err)
		return
	}
	params, nodes := g.Params()
	grads, err := gorgonia.Grad(loss, nodes...)
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := gorgonia.NewTapeMachine(g.G)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	// sign(W) = [[1 −1 1] [−1 1 1]]; the clipped STE zeroes ∂L/∂W where |W| > 1.
	fmt.Println("logits", logits.Value().Data())
	fmt.Printf("loss %.4f\n", loss.Value().Data())
	for i, p := range params {
		fmt.Printf("∂L/∂%s %.4f\n", p.Name, grads[i].Value().Data())
	}
	// Output:
	// logits [2 4 0 2]
	// loss 1.1269
	// ∂L/∂fc.weight [-0.5000 -0.8808 0.0000 0.5000 0.8808 1.2616]
}
