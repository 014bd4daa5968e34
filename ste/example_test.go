package ste_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/ste"
)

// Ternary is a fixed-threshold ternary quantizer with a clipped STE:
//
//	q(x)  = +1 if x > ½, −1 if x < −½, else 0
//	q'(x) = 1{|x| ≤ 1}
//
// It has no learnable parameters, so one value serves as both the Quantizer
// (the config) and the Func (built for one tensor).
type Ternary struct{}

func (Ternary) Name() string                         { return "example-ternary" }
func (Ternary) String() string                       { return "example-ternary" }
func (Ternary) Bits() int                            { return 2 } // three levels fit in 2 bits
func (t Ternary) Build(ste.Target) (ste.Func, error) { return t, nil }
func (Ternary) Params() []ste.Param                  { return nil }

func (Ternary) Forward(y, x []float32, _ [][]float32, _ ste.Ctx) error {
	for i, v := range x {
		switch {
		case v > 0.5:
			y[i] = 1
		case v < -0.5:
			y[i] = -1
		default:
			y[i] = 0
		}
	}
	return nil
}

func (Ternary) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ ste.Ctx) error {
	if wrt != 0 {
		return fmt.Errorf("example-ternary has no input %d", wrt)
	}
	for i, v := range x {
		if v >= -1 && v <= 1 {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
	return nil
}

// Registration makes the quantizer available to ste.Parse, the CLI and the
// conformance test.
func init() {
	ste.Register("example-ternary", "example: ternary with thresholds ±½ and clipped STE", func(a ste.Args) (ste.Quantizer, error) {
		return Ternary{}, nil
	})
}

func Example_customQuantizer() {
	q, err := ste.Parse("example-ternary")
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []float32{-1.5, -0.7, -0.2, 0, 0.4, 0.9, 1.2}
	f, err := q.Build(ste.Target{Shape: []int{1, len(x)}, Role: ste.Inputs})
	if err != nil {
		fmt.Println(err)
		return
	}

	g := gorgonia.NewGraph()
	xn := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(1, len(x)), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(1, len(x)), tensor.WithBacking(x))))
	y, err := ste.Apply(f, q.String(), xn) // f.Params() is empty: no parameter nodes
	if err != nil {
		fmt.Println(err)
		return
	}
	// Loss = Σ y·w, so ∂L/∂y = w and ∂L/∂x = w·1{|x| ≤ 1}.
	w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(1, len(x)), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(1, len(x)), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6, 7}))))
	prod, err := gorgonia.HadamardProd(y, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		fmt.Println(err)
		return
	}
	grads, err := gorgonia.Grad(loss, xn)
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("q(x)  ", y.Value().Data())
	fmt.Println("loss  ", loss.Value().Data())
	fmt.Println("∂L/∂x ", grads[0].Value().Data())
	// Output:
	// q(x)   [-1 -1 0 0 0 1 1]
	// loss   10
	// ∂L/∂x  [0 2 3 4 5 6 0]
}
