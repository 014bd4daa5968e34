package optim

import (
	"fmt"
	"math"
	"strings"
)

// Schedule gives the learning rate for a step. step is the global optimizer
// step counted from 0 and stepsPerEpoch the number of steps in an epoch, so
// the epoch is step / stepsPerEpoch (floored). Values below 1 for
// stepsPerEpoch are treated as 1 and negative steps as 0.
//
// Every schedule in this package also has a String method giving its spec.
type Schedule interface {
	LR(step, stepsPerEpoch int) float32
}

func epochOf(step, stepsPerEpoch int) int {
	return max(step, 0) / max(stepsPerEpoch, 1)
}

// Constant is a fixed learning rate: Constant(1e-3).
type Constant float32

// LR returns c.
func (c Constant) LR(step, stepsPerEpoch int) float32 { return float32(c) }

// String returns e.g. "constant(lr=0.001)".
func (c Constant) String() string { return fmt.Sprintf("constant(lr=%s)", ff(float32(c))) }

// Step multiplies the learning rate by Gamma every Every epochs, like
// torch.optim.lr_scheduler.StepLR stepped once per epoch:
//
//	η = Base · Gamma^⌊epoch/Every⌋
//
// Every < 1 means no decay. DoReFa's SVHN recipe halves every 100 epochs:
// Step{Base: 1e-3, Every: 100, Gamma: 0.5}.
type Step struct {
	Base  float32
	Every int // epochs
	Gamma float32
}

// LR returns the learning rate at step.
func (s Step) LR(step, stepsPerEpoch int) float32 {
	if s.Every < 1 {
		return s.Base
	}
	k := epochOf(step, stepsPerEpoch) / s.Every
	return float32(float64(s.Base) * math.Pow(float64(s.Gamma), float64(k)))
}

// String returns e.g. "step(lr=0.001,every=100,gamma=0.5)".
func (s Step) String() string {
	return fmt.Sprintf("step(lr=%s,every=%d,gamma=%s)", ff(s.Base), s.Every, ff(s.Gamma))
}

// MultiStep multiplies the learning rate by Gamma at each milestone epoch,
// like torch.optim.lr_scheduler.MultiStepLR stepped once per epoch:
//
//	η = Base · Gamma^(number of milestones ≤ epoch)
//
// DoReFa's AlexNet recipe: MultiStep{Base: 1e-4, Milestones: []int{56, 64},
// Gamma: 0.2} gives 1e-4, then 2e-5 from epoch 56 and 4e-6 from epoch 64.
type MultiStep struct {
	Base       float32
	Milestones []int // epochs, in any order
	Gamma      float32
}

// LR returns the learning rate at step.
func (s MultiStep) LR(step, stepsPerEpoch int) float32 {
	e, k := epochOf(step, stepsPerEpoch), 0
	for _, m := range s.Milestones {
		if m <= e {
			k++
		}
	}
	return float32(float64(s.Base) * math.Pow(float64(s.Gamma), float64(k)))
}

// String returns e.g. "multistep(lr=0.0001,milestones=[56,64],gamma=0.2)".
func (s MultiStep) String() string {
	ms := make([]string, len(s.Milestones))
	for i, m := range s.Milestones {
		ms[i] = fmt.Sprint(m)
	}
	return fmt.Sprintf("multistep(lr=%s,milestones=[%s],gamma=%s)", ff(s.Base), strings.Join(ms, ","), ff(s.Gamma))
}

// total returns the schedule length in steps: steps if positive, else
// epochs·stepsPerEpoch.
func total(steps, epochs, stepsPerEpoch int) int {
	if steps > 0 {
		return steps
	}
	return epochs * max(stepsPerEpoch, 1)
}

// Cosine anneals from Base to Floor over T steps with the closed form of
// torch.optim.lr_scheduler.CosineAnnealingLR (Loshchilov & Hutter 2017,
// SGDR, https://arxiv.org/abs/1608.03983, without restarts):
//
//	η_t = Floor + (Base − Floor)·(1 + cos(π·t/T))/2
//
// evaluated per step. T is Steps, or Epochs·stepsPerEpoch when Steps is 0.
// After T steps the rate stays at Floor (PyTorch would rise again); T < 1
// means Base throughout.
type Cosine struct {
	Base, Floor float32
	Steps       int
	Epochs      int
}

// LR returns the learning rate at step.
func (c Cosine) LR(step, stepsPerEpoch int) float32 {
	T := total(c.Steps, c.Epochs, stepsPerEpoch)
	if T < 1 {
		return c.Base
	}
	t := min(max(step, 0), T)
	cos := (1 + math.Cos(math.Pi*float64(t)/float64(T))) / 2
	return float32(float64(c.Floor) + (float64(c.Base)-float64(c.Floor))*cos)
}

// String returns e.g. "cosine(lr=0.01,floor=0,steps=1000)" or
// "cosine(lr=0.01,floor=0,epochs=90)".
func (c Cosine) String() string {
	if c.Steps > 0 {
		return fmt.Sprintf("cosine(lr=%s,floor=%s,steps=%d)", ff(c.Base), ff(c.Floor), c.Steps)
	}
	return fmt.Sprintf("cosine(lr=%s,floor=%s,epochs=%d)", ff(c.Base), ff(c.Floor), c.Epochs)
}

// Exponential decays geometrically once per epoch from Base towards Final,
// reaching it after Epochs epochs, as in the BNN code (Courbariaux et al.
// 2016, LR_decay = (LR_fin/LR_start)^(1/num_epochs)):
//
//	η = Base · (Final/Base)^(min(epoch, Epochs)/Epochs)
//
// BNN MNIST: Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}. Epochs < 1
// or a non-positive Base or Final means Base throughout.
type Exponential struct {
	Base, Final float32
	Epochs      int
}

// LR returns the learning rate at step.
func (x Exponential) LR(step, stepsPerEpoch int) float32 {
	if x.Epochs < 1 || x.Base <= 0 || x.Final <= 0 {
		return x.Base
	}
	e := min(epochOf(step, stepsPerEpoch), x.Epochs)
	ratio := float64(x.Final) / float64(x.Base)
	return float32(float64(x.Base) * math.Pow(ratio, float64(e)/float64(x.Epochs)))
}

// String returns e.g. "exponential(lr=0.003,final=3e-07,epochs=1000)".
func (x Exponential) String() string {
	return fmt.Sprintf("exponential(lr=%s,final=%s,epochs=%d)", ff(x.Base), ff(x.Final), x.Epochs)
}

// Warmup ramps the learning rate linearly over the first Steps steps:
//
//	η = Then(step) · (step+1)/Steps   for step < Steps
//	η = Then(step)                    afterwards
//
// Then is evaluated at the absolute step, so its milestones do not move.
// A nil Then gives 0.
type Warmup struct {
	Steps int
	Then  Schedule
}

// LR returns the learning rate at step.
func (w Warmup) LR(step, stepsPerEpoch int) float32 {
	if w.Then == nil {
		return 0
	}
	lr := w.Then.LR(step, stepsPerEpoch)
	if s := max(step, 0); s < w.Steps {
		lr = float32(float64(lr) * float64(s+1) / float64(w.Steps))
	}
	return lr
}

// String returns e.g. "warmup(steps=500,then=cosine(lr=0.01,floor=0,epochs=90))".
func (w Warmup) String() string {
	return fmt.Sprintf("warmup(steps=%d,then=%v)", w.Steps, w.Then)
}
