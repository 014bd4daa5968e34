package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/recipes"
)

// checkCLI runs args and checks the exit code, that the first error line holds
// every want, that nothing panicked, and that dir holds only the names in keep.
func checkCLI(t *testing.T, dir string, keep []string, code int, args []string, want ...string) (stdout, stderr string) {
	t.Helper()
	got, stdout, stderr := runCLI(args...)
	if got != code {
		t.Fatalf("%v: exit %d, want %d; stderr %q", args, got, code, stderr)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Fatalf("%v: panic trace: %s", args, stderr)
	}
	var first string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "lowbit ") {
			first = l
		}
	}
	for _, w := range want {
		if !strings.Contains(first, w) {
			t.Errorf("%v: error line %q lacks %q", args, first, w)
		}
	}
	if dir != "" {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !contains(keep, e.Name()) {
				t.Errorf("%v: left %s in the output directory", args, e.Name())
			}
		}
	}
	return stdout, stderr
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestUsageErrorsExit2: invalid flag values are usage errors (exit 2) naming the
// flag, found before any data is read or file written.
func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.ckpt")
	train := func(args ...string) []string {
		return append([]string{"train", "-out", out, "-data", filepath.Join(dir, "nodata")}, args...)
	}
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{train("-epochs", "0"), "-epochs"},
		{train("-epochs", "-1"), "-epochs"},
		{train("-batch", "0"), "-batch"},
		{train("-lr", "0"), "-lr"},
		{train("-lr", "NaN"), "-lr"},
		{train("-width", "NaN"), "-width"},
		{train("-width", "-2"), "-width"},
		{train("-latent-clip", "NaN"), "-latent-clip"},
		{train("-latent-clip", "-1"), "-latent-clip"},
		{train("-model", "mlp", "-hidden", "16abc"), "-hidden"},
		{train("-model", "mlp", "-hidden", "0x20"), "-hidden"},
		{train("-model", "mlp", "-hidden", "1_0"), "-hidden"},
		{train("-max-steps", "-3"), "-max-steps"},
		{train("-log-format", "xml"), "-log-format"},
		{train("-nope"), "-nope"},
		{train("help"), "help"},
		{train("-weights", "lsq:bits=x"), "-weights"},
		{[]string{"infer", "-top", "0", "m.lbq", "img.png"}, "-top"},
		{[]string{"infer", "-top", "-1", "m.lbq", "img.png"}, "-top"},
		{[]string{"eval", "-batch", "0", "m.ckpt"}, "-batch"},
		{[]string{"eval", "-limit", "-1", "m.ckpt"}, "-limit"},
	} {
		name := strings.Join(tc.args, " ")
		if tc.args[0] == "train" {
			name = "train " + strings.Join(tc.args[5:], " ")
		}
		t.Run(name, func(t *testing.T) {
			checkCLI(t, dir, nil, 2, tc.args, tc.flag)
		})
	}
}

// TestTrainOutCheckedFirst: an -out that cannot be written fails at once (exit 1)
// naming it, before the data is opened.
func TestTrainOutCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	out := filepath.Join(file, "x.ckpt")
	_, stderr := checkCLI(t, dir, []string{"file"}, 1, []string{"train", "-out", out, "-data", filepath.Join(dir, "nodata")}, out)
	if strings.Contains(stderr, "nodata") || strings.Contains(stderr, "epoch done") {
		t.Errorf("the data was opened or an epoch ran before the output was checked: %s", stderr)
	}
}

// writeImageFolder writes a train and a val split of two classes with n/2 tiny PNGs each.
func writeImageFolder(t *testing.T, dir string, n int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, color.RGBA{uint8(i * 4), 0, 0, 255})
	}
	for _, split := range []string{"train", "val"} {
		for i := range n {
			d := filepath.Join(dir, split, []string{"a", "b"}[i%2])
			os.MkdirAll(d, 0o755)
			f, err := os.Create(filepath.Join(d, string(rune('0'+i))+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, img)
			f.Close()
		}
	}
}

// TestTrainNothingFails: a run that cannot take one step is a failure (exit 1)
// that writes no checkpoint, not "(0 steps)" and exit 0.
func TestTrainNothingFails(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "six")
	writeImageFolder(t, data, 6)
	checkCLI(t, dir, nil, 1, []string{"train", "-dataset", "imagefolder", "-data", data, "-model", "mlp", "-hidden", "8", "-out", filepath.Join(dir, "x.ckpt")},
		"6 examples", "fewer than one batch of 64")
	requireMNIST(t)
	checkCLI(t, dir, nil, 1, []string{"train", "-batch", "100000", "-model", "mlp", "-hidden", "8", "-out", filepath.Join(dir, "x.ckpt")},
		"fewer than one batch of 100000")
}

// TestNonFiniteRefused: training that diverges fails without saving; eval and
// export refuse checkpoints with NaN tensors or absurd weights.
func TestNonFiniteRefused(t *testing.T) {
	requireMNIST(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ckpt")
	for _, args := range [][]string{
		{"-optimizer", "sgd", "-lr", "1e4", "-epochs", "1"},
		{"-lr", "1e30", "-max-steps", "1"},
	} {
		checkCLI(t, dir, nil, 1, append([]string{"train", "-model", "mlp", "-hidden", "16", "-out", bad}, args...), "non-finite")
	}
	good := filepath.Join(dir, "good.ckpt")
	checkCLI(t, "", nil, 0, []string{"train", "-model", "mlp", "-hidden", "16", "-max-steps", "20", "-out", good})
	for _, plant := range []func(c *recipes.Checkpoint){
		func(c *recipes.Checkpoint) { c.Data[len(c.Data)-1][0] = float32(math.Inf(1)) }, // a BN variance
		func(c *recipes.Checkpoint) {
			for i, ti := range c.Tensors {
				if !strings.Contains(ti.Name, "running") {
					for j := range c.Data[i] {
						c.Data[i][j] *= 1e30
					}
				}
			}
		},
	} {
		ck, err := recipes.LoadCheckpoint(good)
		if err != nil {
			t.Fatal(err)
		}
		plant(ck)
		if err := ck.Save(bad); err != nil {
			t.Fatal(err)
		}
		keep := []string{"good.ckpt", "bad.ckpt", settingsName, metricsJSONL, metricsCSV} // the good run's directory
		checkCLI(t, dir, keep, 1, []string{"eval", "-limit", "100", bad}, "bad.ckpt", "non-finite")
		checkCLI(t, dir, keep, 1, []string{"export", bad, "-o", filepath.Join(dir, "bad.lbq")}, "bad.ckpt", "non-finite")
	}
}

// TestResumeFromCheckpointOnly: -resume alone restores the run (model, hidden,
// seed, clip) and continues a -max-steps stop mid-epoch; a finished run says so;
// a contradicting flag is a usage error.
func TestResumeFromCheckpointOnly(t *testing.T) {
	requireMNIST(t)
	dir := t.TempDir()
	ck := filepath.Join(dir, "r.ckpt")
	stdout, _ := checkCLI(t, "", nil, 0, []string{"train", "-model", "mlp", "-hidden", "12", "-seed", "3", "-latent-clip", "0.5", "-batch", "256", "-epochs", "1", "-max-steps", "40", "-threads", "1", "-out", ck})
	if !strings.Contains(stdout, "after 0 epochs and 40 steps of epoch 1") {
		t.Errorf("a mid-epoch stop printed %q", stdout)
	}
	c, err := recipes.LoadCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	if c.Epoch != 0 || c.EpochStep != 40 || c.Config.Threads != 1 {
		t.Fatalf("after -max-steps 40: epoch %d, epoch step %d, threads %d; want 0, 40, 1", c.Epoch, c.EpochStep, c.Config.Threads)
	}
	if w := threadWarning(ck, c, 2); !strings.Contains(w, "1 GEMM threads") || threadWarning(ck, c, 1) != "" {
		t.Errorf("thread warning %q", w)
	}
	checkCLI(t, "", nil, 2, []string{"train", "-resume", ck, "-seed", "4"}, "-seed 4", "seed 3")
	checkCLI(t, "", nil, 2, []string{"train", "-resume", ck, "-model", "lenet5"}, "-model lenet5", "mlp")
	checkCLI(t, "", nil, 2, []string{"train", "-resume", ck, "-epochs", "3"}, "-epochs 3")
	stdout, _ = checkCLI(t, "", nil, 0, []string{"train", "-resume", ck, "-threads", "1"})
	if c, err = recipes.LoadCheckpoint(ck); err != nil {
		t.Fatal(err)
	}
	if c.Epoch != 1 || c.Step != 234 || c.Model.Name != "mlp" || c.Config.Seed != 3 || c.Config.LatentClip != 0.5 {
		t.Fatalf("after the resume: epoch %d step %d model %s seed %d clip %v; want 1, 234, mlp, 3, 0.5 (stdout %q)", c.Epoch, c.Step, c.Model.Name, c.Config.Seed, c.Config.LatentClip, stdout)
	}
	stdout, _ = checkCLI(t, "", nil, 1, []string{"train", "-resume", ck}, "already finished all 1 epochs")
	if strings.Contains(stdout, "0.00%") {
		t.Errorf("a finished run printed %q", stdout)
	}
}

func TestRound4(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{1.23456, 1.2346}, {-2.5e-5, -0}, {9.22e14, 9.22e14}, {-3e18, -3e18}, {1e300, 1e300},
	} {
		if got := round4(tc.in); got != tc.want {
			t.Errorf("round4(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
	if got := round4(math.Inf(1)); !math.IsInf(got, 1) {
		t.Errorf("round4(+Inf) = %g", got)
	}
	if got := round4(math.NaN()); !math.IsNaN(got) {
		t.Errorf("round4(NaN) = %g", got)
	}
}
