package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/serve"
)

// TestServeEqualsInfer exports a checkpoint, serves it on loopback and
// checks that the served top-k of PNGs equal `lowbit infer`'s lines.
func TestServeEqualsInfer(t *testing.T) {
	dir := t.TempDir()
	ckpt, model := filepath.Join(dir, "xnor.ckpt"), filepath.Join(dir, "xnor.lbq")
	writeCheckpoint(t, ckpt)
	if code, _, errOut := runCLI("export", ckpt, "-o", model); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	var log bytes.Buffer
	go func() {
		done <- serveModel(ctx, model, "127.0.0.1:0", serve.Config{}, &log, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	for i, size := range []int{28, 40, 56} {
		pic := image.NewRGBA(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				pic.Set(x, y, color.RGBA{uint8(x * y * (i + 3)), uint8(7 * y), uint8(11 * x), 255})
			}
		}
		var pb bytes.Buffer
		png.Encode(&pb, pic)
		path := filepath.Join(dir, fmt.Sprintf("p%d.png", i))
		os.WriteFile(path, pb.Bytes(), 0o644)
		code, out, errOut := runCLI("infer", model, path, "-top", "4")
		if code != 0 {
			t.Fatalf("infer: exit %d: %s", code, errOut)
		}
		resp, err := http.Post("http://"+addr+"/v1/classify", "application/json", bytes.NewReader(serve.ImageRequest(pb.Bytes(), 4)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a struct {
			Labels []struct {
				Class int
				Name  string
				Prob  float64
				Logit float32
			}
		}
		if err := json.Unmarshal(body, &a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("serve: %d %s %v", resp.StatusCode, body, err)
		}
		served := path + ":\n"
		for r, l := range a.Labels {
			served += fmt.Sprintf("  %d. class %d (%s)  p=%.4f  logit %.4f\n", r+1, l.Class, l.Name, l.Prob, l.Logit)
		}
		if served != out {
			t.Errorf("image %d: served\n%s\ninfer printed\n%s", i, served, out)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
	if !strings.Contains(log.String(), "shut down") {
		t.Errorf("serve log: %s", log.String())
	}
}

func TestServeUsageAndOldModels(t *testing.T) {
	dir := t.TempDir()
	// A model file without normalisation, as scripts wrote them before
	// export.Write required it.
	m, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := export.Freeze(m)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.lbq")
	if err := bm.Save(old); err != nil {
		t.Fatal(err)
	}
	if err := export.Write(filepath.Join(dir, "new.lbq"), bm); err == nil {
		t.Fatal("export.Write accepted a model without metadata")
	}
	var pb bytes.Buffer
	png.Encode(&pb, image.NewGray(image.Rect(0, 0, 28, 28)))
	pic := filepath.Join(dir, "p.png")
	os.WriteFile(pic, pb.Bytes(), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, "want one MODEL.lbq"},
		{[]string{"serve", old, "-max-batch", "0"}, 2, "-max-batch"},
		{[]string{"serve", old, "-max-wait", "-1s"}, 2, "-max-wait"},
		{[]string{"serve", old, "-addr", "127.0.0.1:0"}, 1, "no input normalisation"},
		{[]string{"infer", old, pic}, 1, "no input normalisation"},
		{[]string{"serve", filepath.Join(dir, "missing.lbq")}, 1, "missing.lbq"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

// TestBenchServe runs a small bounded `bench serve` on loopback and checks
// the report: the served answers were checked, every level has a row.
func TestBenchServe(t *testing.T) {
	requireMNIST(t)
	dir := t.TempDir()
	ckpt, model, report := filepath.Join(dir, "xnor.ckpt"), filepath.Join(dir, "xnor.lbq"), filepath.Join(dir, "serve.md")
	writeCheckpoint(t, ckpt)
	if code, _, errOut := runCLI("export", ckpt, "-o", model); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI("bench", "serve", model, "-images", "20", "-requests", "40", "-clients", "1,4", "-out", report)
	if code != 0 {
		t.Fatalf("bench serve: exit %d: %s%s", code, out, errOut)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"all equal", "| 1 | 32 |", "| 1 | 1 |", "| 4 | 32 |", "| 4 | 1 |", "load average"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	if code, _, errOut := runCLI("bench", "serve", model, "-clients", "0"); code != 2 || !strings.Contains(errOut, "-clients") {
		t.Errorf("-clients 0: exit %d, %s", code, errOut)
	}
}
