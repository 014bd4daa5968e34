package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lowbit/lowbit/classify"
)

// ImageRequest returns the JSON body of a /v1/classify request for an
// encoded PNG or JPEG image.
func ImageRequest(img []byte, k int) []byte {
	b, _ := json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(img), "k": k})
	return b
}

// LoadConfig is a bounded load: Clients goroutines send Requests requests
// in all, cycling through Bodies (JSON), each waiting for its answer.
type LoadConfig struct {
	URL      string // the /v1/classify endpoint
	Bodies   [][]byte
	Clients  int
	Requests int
}

// LoadResult summarises a load run.
type LoadResult struct {
	Requests, Errors int
	Elapsed          time.Duration
	P50, P99, Max    time.Duration // request latency
	Throughput       float64       // answered requests per second
	MeanBatch        float64       // mean model batch size seen by the answers
}

// Load runs cfg against a server and measures latency and throughput. A
// non-200 answer counts as an error; the first one is returned with the
// result.
func Load(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if cfg.Clients < 1 || cfg.Requests < 1 || len(cfg.Bodies) == 0 {
		return LoadResult{}, fmt.Errorf("serve: load of %d clients, %d requests, %d bodies", cfg.Clients, cfg.Requests, len(cfg.Bodies))
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, cfg.Requests)
	batch := make([]int, cfg.Requests)
	var (
		mu    sync.Mutex
		first error
		errs  int
		wg    sync.WaitGroup
	)
	next := make(chan int)
	start := time.Now()
	for range cfg.Clients {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				a, err := do(ctx, client, cfg.URL, cfg.Bodies[i%len(cfg.Bodies)])
				lat[i], batch[i] = time.Since(t), a.Batch
				if err != nil {
					mu.Lock()
					errs++
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range cfg.Requests {
		next <- i
	}
	close(next)
	wg.Wait()
	return summarise(lat, batch, errs, time.Since(start)), first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func summarise(lat []time.Duration, batch []int, errs int, elapsed time.Duration) LoadResult {
	r := LoadResult{Requests: len(lat), Errors: errs, Elapsed: elapsed}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	r.P50, r.P99, r.Max = at(0.50), at(0.99), sorted[len(sorted)-1]
	ok, sum := 0, 0
	for _, b := range batch {
		if b > 0 {
			ok++
			sum += b
		}
	}
	if ok > 0 {
		r.MeanBatch = float64(sum) / float64(ok)
	}
	if elapsed > 0 {
		r.Throughput = float64(ok) / elapsed.Seconds()
	}
	return r
}

// Answers sends each image once (JSON, top-k) from clients concurrent
// clients and returns the answers in image order.
func Answers(ctx context.Context, url string, images [][]byte, k, clients int) ([][]classify.Label, error) {
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	out := make([][]classify.Label, len(images))
	errs := make([]error, len(images))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(clients, 1) {
		wg.Go(func() {
			for i := range next {
				a, err := do(ctx, client, url, ImageRequest(images[i], k))
				out[i], errs[i] = a.Labels, err
			}
		})
	}
	for i := range images {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return out, nil
}

// do sends one JSON request and decodes its answer; a non-200 status is an error.
func do(ctx context.Context, c *http.Client, url string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, fmt.Errorf("serve: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return answer{}, fmt.Errorf("serve: answer: %w", err)
	}
	return a, nil
}
