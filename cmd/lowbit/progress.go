package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/term"

	"github.com/lowbit/lowbit/recipes"
)

// reporter shows training progress: a redrawn bar on a terminal, logrus lines otherwise.
type reporter struct {
	w        io.Writer
	tty      bool
	log      *logrus.Logger
	start    time.Time
	last     time.Time
	lossEMA  float64
	accEMA   float64
	n        int
	every    int
	stepTime time.Duration
}

func newReporter(format string) (*reporter, error) {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	switch format {
	case "text", "":
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("unknown -log-format %q (known: text, json)", format)
	}
	tty := format != "json" && term.IsTerminal(int(os.Stderr.Fd()))
	return &reporter{w: os.Stderr, tty: tty, log: log, start: time.Now(), every: 100}, nil
}

func (r *reporter) step(s recipes.StepStats) {
	r.n++
	a := 0.05
	if r.n == 1 {
		a = 1
	}
	r.lossEMA = (1-a)*r.lossEMA + a*float64(s.Loss)
	r.accEMA = (1-a)*r.accEMA + a*s.Acc
	r.stepTime += s.Duration
	if r.tty {
		if time.Since(r.last) < 100*time.Millisecond && s.Step != s.StepsPerEpoch {
			return
		}
		r.last = time.Now()
		el := time.Since(r.start)
		rate := float64(r.n) / el.Seconds()
		eta := time.Duration(float64(s.StepsPerEpoch-s.Step)/rate) * time.Second
		const width = 30
		done := width * s.Step / max(s.StepsPerEpoch, 1)
		bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
		fmt.Fprintf(r.w, "\repoch %d [%s] %d/%d %.1f steps/s ETA %v loss %.4f acc %.2f%%  ",
			s.Epoch, bar, s.Step, s.StepsPerEpoch, rate, eta.Round(time.Second), r.lossEMA, 100*r.accEMA)
		return
	}
	if s.Step%r.every == 0 {
		r.log.WithFields(logrus.Fields{
			"epoch": s.Epoch, "step": s.Step, "of": s.StepsPerEpoch, "loss": round4(r.lossEMA),
			"acc": round4(r.accEMA), "lr": s.LR, "step_ms": round4(float64(r.stepTime.Microseconds()) / 1e3 / float64(r.n)),
		}).Info("train")
	}
}

func (r *reporter) epoch(e recipes.EpochStats) {
	if r.tty {
		fmt.Fprintln(r.w)
	}
	r.start, r.n, r.stepTime = time.Now(), 0, 0
	f := logrus.Fields{
		"epoch": fmt.Sprintf("%d/%d", e.Epoch, e.Epochs), "train_loss": round4(e.TrainLoss), "train_acc": round4(100 * e.TrainAcc),
		"test_loss": round4(e.TestLoss), "test_acc": round4(100 * e.TestAcc), "step_ms": round4(float64(e.StepTime.Microseconds()) / 1e3),
		"elapsed": e.Duration.Round(time.Millisecond).String(),
	}
	if e.FlipRatio > 0 {
		f["flip_ratio"] = round4(e.FlipRatio)
	}
	if e.Checkpoint != "" {
		f["checkpoint"] = e.Checkpoint
	}
	if e.Skipped > 0 {
		f["skipped"] = e.Skipped
	}
	r.log.WithFields(f).Info("epoch done")
}

// round4 rounds x to 4 decimals for the log; values too large for that
// (or not finite) are returned as they are.
func round4(x float64) float64 {
	if !(math.Abs(x) < 1e12) {
		return x
	}
	return math.Round(x*1e4) / 1e4
}
