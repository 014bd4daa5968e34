package ste_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/ste"
)

// Ternary is a symmetric ternary quantizer with a fixed step and a clipped STE:
//
//	q(x)  = round(clip(x/Step, −1, 1))·Step     (−Step, 0 or +Step; ties at ±Step/2 go to 0)
//	q'(x) = 1{|x| ≤ Step}
//
// The struct tag is its whole schema: the spec key, the default and the range,
// from which ste.Parse, ste.Format and ste.Resolve work. Its output depends on
// the value alone, so it also gives its inference-time function (Infer), and
// export runs it in the packed engine with no code elsewhere. Its levels lie on
// both sides of zero (Symmetric), so models put no ReLU in front of it.
type Ternary struct {
	Step float32 `q:"step,default=1,gt=0"`
}

func (Ternary) Name() string         { return "example-ternary" }
func (t Ternary) String() string     { return ste.Format(t) }
func (Ternary) BitsFor(ste.Role) int { return 2 } // three levels fit in 2 bits
func (Ternary) Symmetric() bool      { return true }
func (Ternary) DataInit() bool       { return false }
func (Ternary) Params() []ste.Param  { return nil }

// Build returns the quantizer itself, with defaults filled and checked: with
// no learnable parameters, one value serves as config and built function.
func (t Ternary) Build(ste.Target) (ste.Func, error) { return ste.Resolve(t) }

// Infer is the inference-time function; Forward evaluates the same descriptor.
func (t Ternary) Infer([][]float32) (ste.Desc, error) { return ste.StepDesc(t.Step, -1, 1), nil }

func (t Ternary) Forward(y, x []float32, p [][]float32, _ ste.Ctx) error {
	d, err := t.Infer(p)
	if err != nil {
		return err
	}
	d.Apply(y, x)
	return nil
}

func (t Ternary) Grad(wrt int, dst, g, x, _ []float32, _ [][]float32, _ ste.Ctx) error {
	if wrt != 0 {
		return fmt.Errorf("example-ternary has no input %d", wrt)
	}
	for i, v := range x {
		if v >= -t.Step && v <= t.Step {
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
	ste.Register(Ternary{}, "example: ternary round(clip(x/step,−1,1))·step with clipped STE")
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
