package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/serve"
)

func init() {
	register("serve", "answer image classification over HTTP (MODEL.lbq -addr 127.0.0.1:8080; POST /v1/classify, GET /healthz)", cmdServe)
}

func cmdServe(args []string, stdout io.Writer) error {
	fs := newFlags("serve")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	var cfg serve.Config
	fs.IntVar(&cfg.MaxBatch, "max-batch", 32, "most requests run as one model batch")
	fs.DurationVar(&cfg.MaxWait, "max-wait", 2*time.Millisecond, "longest wait for a batch to fill after its first request")
	fs.Int64Var(&cfg.MaxBody, "max-body", 8<<20, "largest request body in bytes (larger: 413)")
	fs.IntVar(&cfg.MaxPixels, "max-pixels", 16<<20, "largest decoded image, width × height (larger: 400)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", 10*time.Second, "time to read a request")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", 30*time.Second, "time to answer a request")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.lbq, got %d arguments", len(pos))
	}
	switch {
	case cfg.MaxBatch < 1:
		return usagef("-max-batch: %d is invalid: want ≥ 1", cfg.MaxBatch)
	case cfg.MaxWait < 0:
		return usagef("-max-wait: %v is invalid: want ≥ 0", cfg.MaxWait)
	case cfg.MaxBody < 1:
		return usagef("-max-body: %d is invalid: want ≥ 1", cfg.MaxBody)
	case cfg.MaxPixels < 1:
		return usagef("-max-pixels: %d is invalid: want ≥ 1", cfg.MaxPixels)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveModel(ctx, pos[0], *addr, cfg, stdout, nil)
}

// serveModel serves the model at path on addr until ctx is done, then
// shuts down gracefully; ready, when set, gets the bound address.
func serveModel(ctx context.Context, path, addr string, cfg serve.Config, stdout io.Writer, ready func(string)) error {
	bm, err := bitpack.Load(path)
	if err != nil {
		return err
	}
	c, err := classify.New(bm)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := serve.New(c, cfg)
	fmt.Fprintf(stdout, "serving %s (%s, input %v, %d classes) on http://%s: POST /v1/classify, GET /healthz; max batch %d, max wait %v\n",
		path, bm.Info().Name, bm.Input(), bm.Classes(), ln.Addr(), cfg.MaxBatch, cfg.MaxWait)
	if ready != nil {
		ready(ln.Addr().String())
	}
	if err := s.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "shut down: every accepted request answered")
	return nil
}
