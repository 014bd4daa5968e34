package optim

import (
	"fmt"
	"math"
	"testing"
)

func TestSchedules(t *testing.T) {
	const spe = 10 // steps per epoch
	cos := func(base, floor, t, T float64) float64 {
		return floor + (base-floor)*(1+math.Cos(math.Pi*t/T))/2
	}
	tests := []struct {
		name  string
		s     Schedule
		step  int
		want  float64
		ssize int
	}{
		{"constant", Constant(1e-3), 12345, 1e-3, spe},
		{"step epoch 0", Step{Base: 1e-3, Every: 100, Gamma: 0.5}, 0, 1e-3, spe},
		{"step epoch 99", Step{Base: 1e-3, Every: 100, Gamma: 0.5}, 999, 1e-3, spe},
		{"step epoch 100", Step{Base: 1e-3, Every: 100, Gamma: 0.5}, 1000, 5e-4, spe},
		{"step epoch 250", Step{Base: 1e-3, Every: 100, Gamma: 0.5}, 2500, 2.5e-4, spe},
		{"step every 0", Step{Base: 1e-3, Gamma: 0.5}, 2500, 1e-3, spe},
		{"multistep before", MultiStep{Base: 1e-4, Milestones: []int{56, 64}, Gamma: 0.2}, 559, 1e-4, spe},
		{"multistep first", MultiStep{Base: 1e-4, Milestones: []int{56, 64}, Gamma: 0.2}, 560, 2e-5, spe},
		{"multistep second", MultiStep{Base: 1e-4, Milestones: []int{64, 56}, Gamma: 0.2}, 640, 4e-6, spe},
		{"cosine start", Cosine{Base: 0.01, Steps: 100}, 0, 0.01, spe},
		{"cosine quarter", Cosine{Base: 0.01, Floor: 1e-4, Steps: 100}, 25, cos(0.01, 1e-4, 25, 100), spe},
		{"cosine half", Cosine{Base: 0.01, Steps: 100}, 50, 0.005, spe},
		{"cosine end", Cosine{Base: 0.01, Floor: 1e-4, Steps: 100}, 100, 1e-4, spe},
		{"cosine past end", Cosine{Base: 0.01, Floor: 1e-4, Steps: 100}, 150, 1e-4, spe},
		{"cosine epochs", Cosine{Base: 0.01, Epochs: 90}, 300, cos(0.01, 0, 300, 900), spe},
		{"exponential start", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 0, 3e-3, spe},
		{"exponential mid", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 5000, 3e-5, spe},
		{"exponential within epoch", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 5009, 3e-5, spe},
		{"exponential 1 epoch", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 10, 3e-3 * math.Pow(1e-4, 1e-3), spe},
		{"exponential end", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 10000, 3e-7, spe},
		{"exponential past end", Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, 20000, 3e-7, spe},
		{"warmup first", Warmup{Steps: 4, Then: Constant(0.1)}, 0, 0.025, spe},
		{"warmup third", Warmup{Steps: 4, Then: Constant(0.1)}, 2, 0.075, spe},
		{"warmup last", Warmup{Steps: 4, Then: Constant(0.1)}, 3, 0.1, spe},
		{"warmup after", Warmup{Steps: 4, Then: Constant(0.1)}, 4, 0.1, spe},
		{"warmup cosine", Warmup{Steps: 10, Then: Cosine{Base: 0.01, Steps: 100}}, 4, cos(0.01, 0, 4, 100) * 0.5, spe},
		{"warmup cosine after", Warmup{Steps: 10, Then: Cosine{Base: 0.01, Steps: 100}}, 60, cos(0.01, 0, 60, 100), spe},
		{"warmup nil", Warmup{Steps: 10}, 60, 0, spe},
		{"zero steps per epoch", Step{Base: 1, Every: 2, Gamma: 0.5}, 2, 0.5, 0},
		{"negative step", Cosine{Base: 0.01, Steps: 100}, -5, 0.01, spe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.LR(tc.step, tc.ssize); !close32(got, tc.want, 1e-6) {
				t.Errorf("LR(%d) = %.9g, want %.9g", tc.step, got, tc.want)
			}
		})
	}
}

func TestScheduleStrings(t *testing.T) {
	tests := []struct {
		s    fmt.Stringer
		want string
	}{
		{Constant(1e-3), "constant(lr=0.001)"},
		{Step{Base: 1e-3, Every: 100, Gamma: 0.5}, "step(lr=0.001,every=100,gamma=0.5)"},
		{MultiStep{Base: 1e-4, Milestones: []int{56, 64}, Gamma: 0.2}, "multistep(lr=0.0001,milestones=[56,64],gamma=0.2)"},
		{Cosine{Base: 0.01, Steps: 1000}, "cosine(lr=0.01,floor=0,steps=1000)"},
		{Cosine{Base: 0.01, Floor: 1e-5, Epochs: 90}, "cosine(lr=0.01,floor=1e-05,epochs=90)"},
		{Exponential{Base: 3e-3, Final: 3e-7, Epochs: 1000}, "exponential(lr=0.003,final=3e-07,epochs=1000)"},
		{Warmup{Steps: 500, Then: Cosine{Base: 0.01, Epochs: 90}}, "warmup(steps=500,then=cosine(lr=0.01,floor=0,epochs=90))"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q", got)
			}
		})
	}
}
