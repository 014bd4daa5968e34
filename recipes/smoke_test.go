package recipes

import (
	"context"
	"testing"

	"github.com/lowbit/lowbit/models"
)

func TestSmokeQuick(t *testing.T) {
	cfg := Config{Model: models.Spec{Name: "lenet5"}, Epochs: 1, MaxSteps: 200, EvalLimit: 2000,
		OnStep: func(s StepStats) {
			if s.Step%50 == 0 {
				t.Logf("step %d loss %.4f acc %.3f dt %v", s.Step, s.Loss, s.Acc, s.Duration)
			}
		}}
	res, err := Train(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acc %.4f step %v", res.TestAcc, res.StepTime)
}
