package models

import (
	"math"
	"runtime"
	"strings"
	"testing"
)

// TestLimitsRefuseBeforeAllocating builds specs whose sizes come from flags or
// checkpoint headers; each must fail with an error naming the limit, having
// allocated little (before the limits, some panicked and some ran out of memory).
func TestLimitsRefuseBeforeAllocating(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"width 1e6", Spec{Name: "lenet5", Width: 1e6}, "limit [0, 64]"},
		{"width NaN", Spec{Name: "resnet20", Width: math.NaN()}, "width NaN"},
		{"width negative", Spec{Name: "lenet5", Width: -1}, "width -1"},
		{"hidden 2e9", Spec{Name: "mlp", Hidden: []int{2000000000}}, "hidden width 2000000000"},
		{"hidden 60000 twice", Spec{Name: "mlp", Hidden: []int{60000, 60000, 60000}}, "limit of 268435456 parameters"},
		{"hidden 0", Spec{Name: "mlp", Hidden: []int{0}}, "hidden width 0"},
		{"input 1e5 square", Spec{Name: "lenet5", Input: []int{100000, 100000, 3}}, "exceeds the limit of 4096×4096"},
		{"input 4096 square x3", Spec{Name: "mlp", Input: []int{4096, 4096, 3}}, "16777216 values"},
		{"input 1e5x1e5x1 header", Spec{Name: "lenet5", Input: []int{100000, 100000, 1}}, "exceeds the limit"},
		{"classes 1e9", Spec{Name: "lenet5", Classes: 1000000000}, "want 2 to 65536"},
		{"activation", Spec{Name: "resnet18", Input: []int{4096, 4096, 1}, Width: 8}, "over the limit of 16777216"},
		{"dropout NaN", Spec{Name: "mlp", Dropout: float32(math.NaN())}, "dropout NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := New(tc.spec)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 256<<20 {
				t.Errorf("allocated %d MB before refusing", d>>20)
			}
		})
	}
}

// TestLimitsAdmitTheZoo keeps every registered model at its defaults, and a
// wide BNN MLP, inside the limits.
func TestLimitsAdmitTheZoo(t *testing.T) {
	specs := []Spec{{Name: "mlp", Hidden: []int{4096, 4096, 4096}}, {Name: "resnet20", Width: 4}}
	for _, n := range Names() {
		specs = append(specs, Spec{Name: n})
	}
	for _, s := range specs {
		if testing.Short() && s.Name == "resnet18" {
			continue
		}
		if _, err := New(s); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}
