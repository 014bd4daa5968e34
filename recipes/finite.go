package recipes

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lowbit/lowbit/models"
)

func finite(v float32) bool {
	f := float64(v)
	return !math.IsNaN(f) && !math.IsInf(f, 0)
}

// firstNonFinite returns the index of the first NaN or Inf in d, or -1.
func firstNonFinite(d []float32) int {
	for i, v := range d {
		if !finite(v) {
			return i
		}
	}
	return -1
}

// checkModelFinite checks every weight, BatchNorm statistic and quantizer
// parameter of m; the error wraps ErrNonFinite and names the tensor.
func checkModelFinite(m *models.Model) error {
	for _, t := range modelTensors(m) {
		if t.Pull != nil {
			t.Pull()
		}
		if i := firstNonFinite(t.Data); i >= 0 {
			return fmt.Errorf("%w: tensor %s[%d] is %v", ErrNonFinite, t.Name, i, t.Data[i])
		}
	}
	return nil
}

// CheckFinite reports the first tensor of c holding a NaN or Inf, wrapping
// ErrNonFinite. LoadInto (and so Restore and a resume) refuses such a checkpoint.
func (c *Checkpoint) CheckFinite() error {
	for i, d := range c.Data {
		if j := firstNonFinite(d); j >= 0 {
			name := fmt.Sprint(i)
			if i < len(c.Tensors) {
				name = c.Tensors[i].Name
			}
			return fmt.Errorf("%w: tensor %s[%d] is %v", ErrNonFinite, name, j, d[j])
		}
	}
	return nil
}

// probeBatch is the number of inputs CheckOutputFinite runs.
const probeBatch = 4

// CheckOutputFinite runs m (evaluation mode) on a few fixed pseudo-random inputs
// in [−1, 1] and reports NaN or Inf logits or loss, wrapping ErrNonFinite: finite but
// absurd weights (1e30) pass CheckFinite yet give a model that computes nothing.
func CheckOutputFinite(m *models.Model) error {
	if err := checkModelFinite(m); err != nil {
		return err
	}
	net, err := NewNet(m, probeBatch, false, nil)
	if err != nil {
		return err
	}
	defer net.Close()
	per := 1
	for _, d := range m.Spec.Input {
		per *= d
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, probeBatch*per)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	if err := net.Run(x, make([]int32, probeBatch), probeBatch); err != nil {
		return err
	}
	if i := firstNonFinite(net.Logits()); i >= 0 {
		return fmt.Errorf("%w: the model's logits on a probe input are %v", ErrNonFinite, net.Logits()[i])
	}
	if loss := net.Loss(); !finite(loss) {
		return fmt.Errorf("%w: the model's loss on a probe input is %v", ErrNonFinite, loss)
	}
	return nil
}
