package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/ste"
)

// testClassifier is an untrained XNOR LeNet-5 (seeded) with MNIST's
// normalisation and class names: deterministic, distinct logits per image.
func testClassifier(t testing.TB) *classify.Classifier {
	t.Helper()
	m, err := models.New(models.Spec{Name: "lenet5", Weights: ste.XNOR{}, Inputs: ste.Sign{}, Seed: 3,
		Mean: []float32{datasets.MNISTMean}, Std: []float32{datasets.MNISTStd}, ClassNames: datasets.ClassNames("mnist")})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := export.Freeze(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classify.New(bm)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pngOf encodes a seeded random w×h image (gray or RGB).
func pngOf(t testing.TB, seed uint64, w, h int, rgb bool) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	var img image.Image
	if rgb {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(rng.IntN(256))
			if i%4 == 3 {
				m.Pix[i] = 255
			}
		}
		img = m
	} else {
		m := image.NewGray(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(rng.IntN(256))
		}
		img = m
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// start serves s on a loopback listener; cancel shuts it down and the
// returned channel yields Serve's error.
func start(t testing.TB, s *Server) (url string, cancel context.CancelFunc, done chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String(), cancel, done
}

func multipartBody(t testing.TB, img []byte, k string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("image", "x.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(img)
	if k != "" {
		mw.WriteField("k", k)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func postBody(url, ct string, body []byte) (int, []byte, error) {
	resp, err := http.Post(url, ct, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestConcurrentClientsEqualClassify sends JSON, multipart and tensor
// requests from concurrent clients over loopback and checks each answer
// against classify (what `lowbit infer` prints), and that requests shared
// model runs.
func TestConcurrentClientsEqualClassify(t *testing.T) {
	c := testClassifier(t)
	url, _, _ := start(t, New(c, Config{MaxBatch: 16, MaxWait: 100 * time.Millisecond}))
	const clients, each = 12, 3
	var wg sync.WaitGroup
	batches := make(chan int, clients*each)
	for cl := range clients {
		wg.Go(func() {
			for r := range each {
				seed := uint64(cl*each + r)
				img := pngOf(t, seed, 28+int(seed%3)*6, 28+int(seed%2)*10, seed%2 == 0)
				decoded, err := classify.Decode(img, 0)
				if err != nil {
					t.Error(err)
					return
				}
				want, err := c.Classify(decoded, 3)
				if err != nil {
					t.Error(err)
					return
				}
				ct, body := "application/json", ImageRequest(img, 3)
				switch r % 3 {
				case 1:
					ct, body = multipartBody(t, img, "3")
				case 2:
					x := make([]float32, c.InputLen())
					if err := c.Tensor(decoded, x); err != nil {
						t.Error(err)
						return
					}
					body, _ = json.Marshal(map[string]any{"tensor": x, "k": 3})
				}
				status, b, err := postBody(url+"/v1/classify", ct, body)
				if err != nil || status != http.StatusOK {
					t.Errorf("request %d: %d %s %v", seed, status, b, err)
					return
				}
				var a answer
				if err := json.Unmarshal(b, &a); err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(a.Labels, want) {
					t.Errorf("request %d (form %d): served %v, classify %v", seed, r%3, a.Labels, want)
				}
				batches <- a.Batch
			}
		})
	}
	wg.Wait()
	close(batches)
	most := 0
	for b := range batches {
		most = max(most, b)
	}
	if most < 2 {
		t.Errorf("no request shared a model run with another (largest batch %d)", most)
	}
}

// TestMalformedRequests sends bad requests over loopback: each gets a 4xx
// JSON error, and the server still answers afterwards.
func TestMalformedRequests(t *testing.T) {
	c := testClassifier(t)
	url, _, _ := start(t, New(c, Config{MaxBody: 64 << 10, MaxPixels: 100 * 100, MaxK: 10}))
	good := pngOf(t, 1, 28, 28, false)
	mpCT, mpNoImage := func() (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("k", "3")
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}()
	_, mpBadK := multipartBody(t, good, "three")
	cases := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
	}{
		{"bad JSON", "POST", "/v1/classify", "application/json", []byte(`{"image": `), 400},
		{"JSON array", "POST", "/v1/classify", "application/json", []byte(`[1, 2]`), 400},
		{"two JSON values", "POST", "/v1/classify", "application/json", []byte(`{"tensor": [1]} {}`), 400},
		{"unknown field", "POST", "/v1/classify", "application/json", []byte(`{"img": "AAAA"}`), 400},
		{"neither image nor tensor", "POST", "/v1/classify", "application/json", []byte(`{"k": 3}`), 400},
		{"image and tensor", "POST", "/v1/classify", "application/json", []byte(`{"image": "AAAA", "tensor": [1]}`), 400},
		{"bad base64", "POST", "/v1/classify", "application/json", []byte(`{"image": "!!!"}`), 400},
		{"not an image", "POST", "/v1/classify", "application/json", ImageRequest([]byte("GIF89a hello"), 3), 400},
		{"truncated PNG", "POST", "/v1/classify", "application/json", ImageRequest(good[:len(good)/2], 3), 400},
		{"too many pixels", "POST", "/v1/classify", "application/json", ImageRequest(pngOf(t, 2, 101, 100, false), 3), 400},
		{"short tensor", "POST", "/v1/classify", "application/json", []byte(`{"tensor": [0.5, 1]}`), 400},
		{"tensor overflows float32", "POST", "/v1/classify", "application/json", []byte(`{"tensor": [1e300]}`), 400},
		{"k zero in body is default, k too large", "POST", "/v1/classify?k=11", "application/json", ImageRequest(good, 0), 400},
		{"k negative", "POST", "/v1/classify", "application/json", ImageRequest(good, -1), 400},
		{"k not a number", "POST", "/v1/classify?k=abc", "application/json", ImageRequest(good, 0), 400},
		{"body over the limit", "POST", "/v1/classify", "application/json", ImageRequest(bytes.Repeat([]byte{1}, 80<<10), 3), 413},
		{"multipart without image", "POST", "/v1/classify", mpCT, mpNoImage, 400},
		{"multipart bad k", "POST", "/v1/classify", mpCT, mpBadK, 400},
		{"multipart without boundary", "POST", "/v1/classify", "multipart/form-data", good, 400},
		{"text body", "POST", "/v1/classify", "text/plain", []byte("hello"), 415},
		{"no content type", "POST", "/v1/classify", "", good, 415},
		{"GET classify", "GET", "/v1/classify", "", nil, 405},
		{"unknown path", "GET", "/nope", "", nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, url+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct{ Error string }
			if resp.StatusCode != tc.status || json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Fatalf("status %d body %s; want %d and a JSON error", resp.StatusCode, b, tc.status)
			}
		})
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after bad requests: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, b, err := postBody(url+"/v1/classify", "application/json", ImageRequest(good, 2)); status != 200 || err != nil {
		t.Fatalf("a good request after bad ones: %d %s %v", status, b, err)
	}
}

// TestShutdownDrains cancels the server while requests wait for their
// model run: every one is answered, Serve returns nil, later requests are
// refused.
func TestShutdownDrains(t *testing.T) {
	c := testClassifier(t)
	s := New(c, Config{MaxBatch: 64, MaxWait: 50 * time.Millisecond})
	release := make(chan struct{})
	s.b.hold = func() { <-release } // the batches wait until the shutdown has begun
	url, cancel, done := start(t, s)
	const n = 8
	var wg sync.WaitGroup
	status := make([]int, n)
	for i := range n {
		wg.Go(func() {
			st, b, err := postBody(url+"/v1/classify", "application/json", ImageRequest(pngOf(t, uint64(i), 28, 28, false), 1))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			status[i] = st
			_ = b
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.b.queued.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q := s.b.queued.Load(); q != n {
		t.Fatalf("%d requests queued, want %d", q, n)
	}
	cancel()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err != nil {
			break // the listener is closed: the shutdown has begun
		} else {
			conn.Close()
		}
	}
	close(release)
	wg.Wait()
	for i, st := range status {
		if st != http.StatusOK {
			t.Errorf("in-flight request %d: status %d, want 200", i, st)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	done <- nil // for the cleanup
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("the listener still answers after shutdown")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/classify", bytes.NewReader(ImageRequest(pngOf(t, 9, 28, 28, false), 1)))
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Fatalf("request after Close: %d %s, want 503", rec.Code, rec.Body)
	}
	s.Close() // idempotent
}

func TestHealthz(t *testing.T) {
	c := testClassifier(t)
	s := New(c, Config{})
	defer s.Close()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var h struct {
		Status  string
		Model   string
		Input   []int
		Classes int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != 200 {
		t.Fatalf("healthz: %d %s %v", rec.Code, rec.Body, err)
	}
	if want := fmt.Sprintf("%s %s %v %d", h.Status, h.Model, h.Input, h.Classes); want != "ok lenet5 [28 28 1] 10" {
		t.Fatalf("healthz %s", want)
	}
}
