package recipes

import (
	"github.com/lowbit/lowbit/internal/container"

	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lowbit/lowbit/models"
)

func testCheckpoint(t testing.TB, fill float32) *Checkpoint {
	t.Helper()
	m, err := models.New(models.Spec{Name: "mlp", Hidden: []int{64}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &Checkpoint{Model: m.Spec, Dataset: "mnist", Epoch: 1, Step: 10, Optimizer: "adam", OptBytes: []byte("state")}
	c.snapshot(m)
	c.Data[0][0] = fill
	return c
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ckpt")
	c := testCheckpoint(t, 42)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data[0][0] != 42 || string(got.OptBytes) != "state" || got.Model.Name != "mlp" || got.Step != 10 {
		t.Fatalf("round trip changed the checkpoint: %+v", got)
	}
	if _, err := got.Restore(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(m) != 0 {
		t.Errorf("temp files left behind: %v", m)
	}
}

func TestCheckpointBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	if err := testCheckpoint(t, 1).Save(good); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	newer := append([]byte(nil), raw...)
	newer[len(ckptFormat.Magic)] = 9 // format version 9
	flipped := append([]byte(nil), raw...)
	flipped[len(raw)/2] ^= 0x10
	for _, tc := range []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"empty", nil, "too short", ErrCheckpoint},
		{"wrong magic", append([]byte("NOTACKPT"), raw[8:]...), "wrong magic", ErrCheckpoint},
		{"truncated", raw[:len(raw)-100], "checksum", ErrCheckpoint},
		{"tampered", flipped, "checksum", ErrCheckpoint},
		{"newer version", newer, "version 9", ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(p, tc.data, 0o644)
			_, err := LoadCheckpoint(p)
			if err == nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want %v containing %q and the path", err, tc.is, tc.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadCheckpoint(filepath.Join(dir, "nope.ckpt")); err == nil || !strings.Contains(err.Error(), "nope.ckpt") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong model", func(t *testing.T) {
		c, _ := LoadCheckpoint(good)
		m, err := models.New(models.Spec{Name: "lenet5"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.LoadInto(m); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("loading an mlp checkpoint into lenet5: %v", err)
		}
	})
}

func FuzzCheckpoint(f *testing.F) {
	c := testCheckpoint(f, 3)
	path := filepath.Join(f.TempDir(), "seed.ckpt")
	if err := c.Save(path); err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	f.Add(raw)
	f.Add(raw[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b)
		if err == nil && len(c.Data) != len(c.Tensors) {
			t.Fatalf("decoded %d tensors for %d entries", len(c.Data), len(c.Tensors))
		}
		// Past the checksum: the same bytes with a valid CRC reach the header,
		// tensor table and model build.
		b = append([]byte(nil), b...)
		container.Reseal(b)
		fuzzDecoded(t, b)
	})
}

// TestCheckpointSurvivesSIGKILL kills a process that rewrites a checkpoint in a loop
// at random moments; the file must always load, holding one complete version.
func TestCheckpointSurvivesSIGKILL(t *testing.T) {
	if os.Getenv("LOWBIT_CKPT_CHILD") != "" {
		path := os.Getenv("LOWBIT_CKPT_CHILD")
		for i := 0; ; i++ {
			c := testCheckpoint(t, float32(i))
			if err := c.Save(path); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			if i == 0 {
				os.WriteFile(path+".ready", nil, 0o644)
			}
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "live.ckpt")
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 6; round++ {
		os.Remove(path + ".ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckpointSurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), "LOWBIT_CKPT_CHILD="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(path + ".ready"); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		c, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatalf("round %d: checkpoint unreadable after SIGKILL: %v", round, err)
		}
		t.Logf("round %d: checkpoint holds version %g", round, c.Data[0][0])
	}
}
