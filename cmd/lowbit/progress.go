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
	split    string // the split epochs are evaluated on: "test" or "val"
	epochs   int    // the run's epochs, for "epoch 1/3"
	bar      barState
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
		r.bar = r.barState(s)
		fmt.Fprint(r.w, "\r"+renderBar(termWidth(r.w), r.bar))
		return
	}
	if s.Step%r.every == 0 {
		r.log.WithFields(logrus.Fields{
			"epoch": s.Epoch, "epochs": r.epochs, "step": s.Step, "of": s.StepsPerEpoch, "loss": round4(r.lossEMA),
			"acc": round4(100 * r.accEMA), "lr": s.LR, "step_ms": round4(float64(r.stepTime.Microseconds()) / 1e3 / float64(r.n)),
		}).Info("train")
	}
}

func (r *reporter) barState(s recipes.StepStats) barState {
	rate := float64(r.n) / max(time.Since(r.start).Seconds(), 1e-9)
	return barState{epoch: s.Epoch, epochs: r.epochs, step: s.Step, of: s.StepsPerEpoch, rate: rate,
		eta: time.Duration(float64(s.StepsPerEpoch-s.Step) / rate * float64(time.Second)), elapsed: time.Since(r.start),
		loss: r.lossEMA, acc: 100 * r.accEMA}
}

func (r *reporter) epoch(e recipes.EpochStats) {
	split := r.split
	if split == "" {
		split = "test"
	}
	if r.tty {
		r.bar.epoch, r.bar.epochs, r.bar.step, r.bar.eta = e.Epoch, e.Epochs, r.bar.of, 0
		r.bar.elapsed = e.Duration
		fmt.Fprintln(r.w, "\r"+renderBar(termWidth(r.w), r.bar, fmt.Sprintf("%s_loss %.4f", split, e.TestLoss), fmt.Sprintf("%s_acc %.2f%%", split, 100*e.TestAcc)))
	}
	r.start, r.n, r.stepTime = time.Now(), 0, 0
	f := logrus.Fields{
		"epoch": e.Epoch, "epochs": e.Epochs, "train_loss": round4(e.TrainLoss), "train_acc": round4(100 * e.TrainAcc),
		split + "_loss": round4(e.TestLoss), split + "_acc": round4(100 * e.TestAcc), "step_ms": round4(float64(e.StepTime.Microseconds()) / 1e3),
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
	if r.tty {
		return // the bar's line holds the epoch's metrics
	}
	r.log.WithFields(f).Info("epoch done")
}

// barState is what one redraw of the progress bar shows.
type barState struct {
	epoch, epochs, step, of int
	rate                    float64 // steps/s
	eta, elapsed            time.Duration
	loss, acc               float64 // acc in percent
}

// renderBar draws the bar's line in at most cols-1 columns (the last column
// would wrap on some terminals): the bar takes the room the fields leave, and
// fields are dropped, least useful first, when even a short bar does not fit.
// tail (the epoch's evaluation: loss, accuracy) follows at an epoch's end, and the elapsed time replaces the ETA.
func renderBar(cols int, b barState, tail ...string) string {
	head := fmt.Sprintf("epoch %d/%d", b.epoch, b.epochs)
	if b.epochs == 0 {
		head = fmt.Sprintf("epoch %d", b.epoch)
	}
	count := fmt.Sprintf("%d/%d", b.step, b.of)
	timing := "ETA " + clock(b.eta)
	if len(tail) > 0 || b.step >= b.of {
		timing = clock(b.elapsed)
	}
	fields := []string{count, fmt.Sprintf("%.1f steps/s", b.rate), timing, fmt.Sprintf("loss %.4f", b.loss), fmt.Sprintf("acc %.2f%%", b.acc)}
	drop := []int{1, 3, 0, 4} // least useful first
	if len(tail) > 0 {
		fields = append(append(fields, "-"), tail...)
		drop = append(drop, 6) // the evaluation's loss
	}
	// Fields are dropped until a bar of 10 columns fits; else the line goes without a bar.
	for k := 0; k <= len(drop); k++ {
		rest := strings.Join(nonEmpty(fields), " ")
		if room := cols - 1 - len([]rune(head+" [] "+rest)); room >= 10 {
			w := min(room, 30)
			done := w * min(b.step, b.of) / max(b.of, 1)
			return head + " [" + strings.Repeat("=", done) + strings.Repeat(" ", w-done) + "] " + rest
		}
		if k < len(drop) {
			fields[drop[k]] = ""
		}
	}
	return cut(head+" "+strings.Join(nonEmpty(fields), " "), cols-1)
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n, 0)])
}

// clock formats d as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	t := int(d.Round(time.Second) / time.Second)
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%d:%02d", t/60, t%60)
}

// termWidth is w's terminal width, or 80 columns when it is no terminal.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
			return c
		}
	}
	return 80
}

// round4 rounds x to 4 decimals for the log; values too large for that
// (or not finite) are returned as they are.
func round4(x float64) float64 {
	if !(math.Abs(x) < 1e12) {
		return x
	}
	return math.Round(x*1e4) / 1e4
}
