package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/lowbit/lowbit/bench"
	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/serve"
)

func init() {
	registerBench("serve", "HTTP serving latency (p50/p99) and throughput on loopback with N clients, MNIST PNGs (docs/results/serve.md)", cmdBenchServe)
}

// serveBench is a parsed `bench serve` command.
type serveBench struct {
	model, data, out, note string
	images, requests       int
	clients                []int
	cfg                    serve.Config
	args                   []string
}

func cmdBenchServe(args []string, stdout io.Writer) error {
	fs := newFlags("bench serve")
	b := serveBench{args: args}
	fs.StringVar(&b.data, "data", "", "MNIST directory (default: $LOWBIT_DATA or the built-in search)")
	fs.IntVar(&b.images, "images", 500, "MNIST test images sent as PNG requests (and checked against classify)")
	fs.IntVar(&b.requests, "requests", 2000, "timed requests per load level")
	clients := fs.String("clients", "1,4,16,64", "comma-separated concurrent client counts")
	fs.IntVar(&b.cfg.MaxBatch, "max-batch", 32, "server -max-batch (each level also runs with 1: no batching)")
	fs.DurationVar(&b.cfg.MaxWait, "max-wait", 2*time.Millisecond, "server -max-wait")
	fs.StringVar(&b.out, "o", "docs/results/serve.md", "report file (\"\" prints only)")
	alias(fs, "o", "out")
	fs.StringVar(&b.note, "note", "", "a line on how the model was made, for the report")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.lbq (exported from an MNIST checkpoint), got %d arguments", len(pos))
	}
	b.model = pos[0]
	for _, f := range splitList(*clients) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 1024 {
			return usagef("-clients: %q is invalid: want counts from 1 to 1024", f)
		}
		b.clients = append(b.clients, n)
	}
	switch {
	case len(b.clients) == 0:
		return usagef("-clients: empty list")
	case b.images < 1 || b.images > 10000:
		return usagef("-images: %d is invalid: want 1 to 10000", b.images)
	case b.requests < 1 || b.requests > 1_000_000:
		return usagef("-requests: %d is invalid: want 1 to 1000000", b.requests)
	case b.cfg.MaxBatch < 1 || b.cfg.MaxWait < 0:
		return usagef("-max-batch %d / -max-wait %v: want ≥ 1 and ≥ 0", b.cfg.MaxBatch, b.cfg.MaxWait)
	}
	return b.run(stdout)
}

// serveLevel is one measured load level.
type serveLevel struct {
	clients, maxBatch int
	res               serve.LoadResult
}

func (b *serveBench) run(stdout io.Writer) error {
	bm, err := bitpack.Load(b.model)
	if err != nil {
		return err
	}
	c, err := classify.New(bm)
	if err != nil {
		return fmt.Errorf("%s: %w", b.model, err)
	}
	pngs, labels, err := mnistPNGs(b.data, b.images)
	if err != nil {
		return err
	}
	mach := bench.ThisMachine()
	acc, err := b.check(c, pngs, labels)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d images: served answers equal classify's; top-1 accuracy %.2f%%\n", len(pngs), acc)
	bodies := make([][]byte, len(pngs))
	for i, p := range pngs {
		bodies[i] = serve.ImageRequest(p, 1)
	}
	var levels []serveLevel
	for _, n := range b.clients {
		for _, mb := range []int{b.cfg.MaxBatch, 1} {
			res, err := b.measure(c, mb, serve.LoadConfig{Bodies: bodies, Clients: n, Requests: b.requests})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "clients %d max-batch %d: p50 %v p99 %v, %.0f req/s, mean batch %.1f\n", n, mb, res.P50, res.P99, res.Throughput, res.MeanBatch)
			levels = append(levels, serveLevel{n, mb, res})
		}
	}
	report := b.report(bm, mach, bench.LoadAvgNow(), acc, levels)
	if b.out == "" {
		_, err := io.WriteString(stdout, report)
		return err
	}
	if err := atomicfile.Write(b.out, []byte(report)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", b.out)
	return nil
}

// start runs a server of c with max batch mb on a loopback port.
func (b *serveBench) start(c *classify.Classifier, mb int) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	cfg := b.cfg
	cfg.MaxBatch = mb
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.New(c, cfg).Serve(ctx, ln) }()
	return "http://" + ln.Addr().String() + "/v1/classify", func() error { cancel(); return <-done }, nil
}

// measure warms a fresh server up, then runs the timed load on it.
func (b *serveBench) measure(c *classify.Classifier, mb int, lc serve.LoadConfig) (serve.LoadResult, error) {
	url, stop, err := b.start(c, mb)
	if err != nil {
		return serve.LoadResult{}, err
	}
	lc.URL = url
	warm := lc
	warm.Requests = max(lc.Clients, min(200, lc.Requests/10))
	if _, err := serve.Load(context.Background(), warm); err != nil {
		stop()
		return serve.LoadResult{}, err
	}
	res, err := serve.Load(context.Background(), lc)
	if serr := stop(); err == nil {
		err = serr
	}
	return res, err
}

// check sends every image once (8 clients) and compares each answer's top
// class and probability with classify's; it returns the top-1 accuracy.
func (b *serveBench) check(c *classify.Classifier, pngs [][]byte, labels []int) (float64, error) {
	url, stop, err := b.start(c, b.cfg.MaxBatch)
	if err != nil {
		return 0, err
	}
	defer stop()
	answers, err := serve.Answers(context.Background(), url, pngs, 1, 8)
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range pngs {
		img, err := classify.Decode(p, 0)
		if err != nil {
			return 0, err
		}
		want, err := c.Classify(img, 1)
		if err != nil {
			return 0, err
		}
		got := answers[i]
		if len(got) != 1 || got[0].Class != want[0].Class || math.Abs(got[0].Prob-want[0].Prob) > 0 {
			return 0, fmt.Errorf("bench serve: image %d: served %v, classify gives %v", i, got, want)
		}
		if want[0].Class == labels[i] {
			right++
		}
	}
	return 100 * float64(right) / float64(len(pngs)), nil
}

// mnistPNGs encodes the first n MNIST test images as PNGs.
func mnistPNGs(dir string, n int) ([][]byte, []int, error) {
	ds, err := datasets.MNIST(dir, "test", datasets.Options{Scaling: datasets.Unit})
	if err != nil {
		return nil, nil, fmt.Errorf("%w (pass the MNIST directory with -data)", err)
	}
	n = min(n, ds.Len())
	x := make([]float32, 28*28)
	pngs, labels := make([][]byte, n), make([]int, n)
	for i := range n {
		if labels[i], err = ds.Example(i, x, nil); err != nil {
			return nil, nil, err
		}
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for j, v := range x {
			img.Pix[j] = uint8(math.Round(float64(v) * 255))
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return nil, nil, err
		}
		pngs[i] = b.Bytes()
	}
	return pngs, labels, nil
}

func (b *serveBench) report(bm *bitpack.Model, m bench.Machine, loadAfter string, acc float64, levels []serveLevel) string {
	var w strings.Builder
	info := bm.Info()
	fmt.Fprintf(&w, "# lowbit serve: latency and throughput on loopback\n\n")
	args := make([]string, len(b.args))
	for i, a := range b.args {
		args[i] = a
		if strings.ContainsAny(a, " `'\"") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	fmt.Fprintf(&w, "Command: `lowbit bench serve %s`\n\n", strings.Join(args, " "))
	fmt.Fprintf(&w, "| | |\n|---|---|\n")
	fmt.Fprintf(&w, "| date | %s |\n| machine | %s, GOMAXPROCS %d, %s |\n", m.Date.Format("2006-01-02 15:04 UTC"), m.CPU, m.GOMAXPROCS, m.GoVersion)
	fmt.Fprintf(&w, "| load average | %s before, %s (1 min) after — a shared machine; the other agents' work competes for the CPUs |\n", m.LoadAvg, loadAfter)
	fmt.Fprintf(&w, "| model | %s (recipe %s, dataset %s), input %v, file %s |\n", info.Name, orDash(info.Recipe), orDash(info.Dataset), bm.Input(), b.model)
	if b.note != "" {
		fmt.Fprintf(&w, "| model note | %s |\n", b.note)
	}
	fmt.Fprintf(&w, "| requests | JSON with a base64 PNG (the first %d MNIST test images, cycled), top-1; server and clients in one process, on 127.0.0.1 |\n", b.images)
	fmt.Fprintf(&w, "| check | every image served once and compared with `classify` (what `lowbit infer` prints): all equal; top-1 accuracy %.2f%% |\n\n", acc)
	fmt.Fprintf(&w, "Each level: a fresh server, %d warm-up requests at most, then %d timed requests; each client waits for its answer before sending the next.\n", min(200, b.requests/10), b.requests)
	fmt.Fprintf(&w, "`max batch 1` is the same server without micro-batching. Max wait %v (a batch waits only for requests already being decoded).\n\n", b.cfg.MaxWait)
	fmt.Fprintf(&w, "| clients | max batch | p50 | p99 | max | throughput (req/s) | mean batch | errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range levels {
		r := l.res
		fmt.Fprintf(&w, "| %d | %d | %s | %s | %s | %.0f | %.1f | %d |\n", l.clients, l.maxBatch, ms(r.P50), ms(r.P99), ms(r.Max), r.Throughput, r.MeanBatch, r.Errors)
	}
	return w.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
