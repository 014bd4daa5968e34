package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/lowbit/lowbit/classify"
)

// Config sets the server's limits; the zero value of each field picks the
// default noted.
type Config struct {
	MaxBatch  int           // requests per model run; 0 means 32
	MaxWait   time.Duration // wait for a batch to fill after its first request; 0 means 2ms
	MaxBody   int64         // request body bytes; 0 means 8 MiB
	MaxPixels int           // decoded image width × height; 0 means 16 megapixels
	MaxK      int           // largest top-k a request may ask; 0 means 100
	// Timeouts of the http.Server Serve runs: reading a request, writing
	// the answer, an idle keep-alive connection, and the grace period of a
	// shutdown; 0 means 10s, 30s, 60s and 30s.
	ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
}

func (c *Config) defaults() {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 32
	}
	set(&c.MaxWait, 2*time.Millisecond)
	if c.MaxBody <= 0 {
		c.MaxBody = 8 << 20
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 16 << 20
	}
	if c.MaxK <= 0 {
		c.MaxK = 100
	}
	set(&c.ReadTimeout, 10*time.Second)
	set(&c.WriteTimeout, 30*time.Second)
	set(&c.IdleTimeout, 60*time.Second)
	set(&c.ShutdownTimeout, 30*time.Second)
}

// Server classifies images over HTTP; see the package doc.
type Server struct {
	c   *classify.Classifier
	cfg Config
	b   *batcher
	mux *http.ServeMux
	// decoding bounds the images decoded at once, so memory stays under
	// cap(decoding) × MaxPixels × 4 bytes whatever the number of clients.
	decoding chan struct{}
}

// New returns a server of c with cfg's limits; its batcher runs until Close.
func New(c *classify.Classifier, cfg Config) *Server {
	cfg.defaults()
	s := &Server{c: c, cfg: cfg, b: newBatcher(c, cfg.MaxBatch, cfg.MaxWait), mux: http.NewServeMux(),
		decoding: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	s.mux.HandleFunc("/v1/classify", only("POST", s.classify))
	s.mux.HandleFunc("/healthz", only("GET", s.health))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s (POST /v1/classify, GET /healthz)", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the HTTP handler of the endpoints.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops taking requests (later ones get 503) and returns once every
// queued request has its answer.
func (s *Server) Close() { s.b.close() }

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: no new connections, in-flight requests finish (up to
// Config.ShutdownTimeout), the batcher drains. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler: s.mux, ReadHeaderTimeout: s.cfg.ReadTimeout, ReadTimeout: s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout, MaxHeaderBytes: 64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// only answers other methods than method with 405 and a JSON error.
func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: want %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	m := s.c.Model()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": m.Info().Name, "input": m.Input(), "classes": m.Classes()})
}

// request is the JSON body of /v1/classify.
type request struct {
	Image  []byte    `json:"image"` // base64 in JSON
	Tensor []float32 `json:"tensor"`
	K      int       `json:"k"`
}

// answer is the body of a successful /v1/classify.
type answer struct {
	Labels []classify.Label `json:"labels"`
	Batch  int              `json:"batch"` // requests in the model run that answered this one
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	s.b.arriving.Add(1)
	x, k, status, err := s.input(r)
	if err != nil {
		s.b.arriving.Add(-1)
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			status, err = http.StatusRequestEntityTooLarge, fmt.Errorf("request body over the limit of %d bytes", s.cfg.MaxBody)
		}
		writeError(w, status, err)
		return
	}
	res := s.b.submit(x, k)
	switch {
	case errors.Is(res.err, errClosed):
		writeError(w, http.StatusServiceUnavailable, res.err)
	case res.err != nil:
		writeError(w, http.StatusInternalServerError, res.err)
	default:
		writeJSON(w, http.StatusOK, answer{Labels: res.labels, Batch: res.batch})
	}
}

// input reads a request's tensor and k, or the status and error to answer.
func (s *Server) input(r *http.Request) (x []float32, k int, status int, err error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, 0, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json or multipart/form-data", r.Header.Get("Content-Type"))
	}
	var img []byte
	switch ct {
	case "application/json":
		var req request
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, 0, http.StatusBadRequest, fmt.Errorf("JSON body: %w", err)
		}
		if dec.More() {
			return nil, 0, http.StatusBadRequest, errors.New("JSON body: more than one value")
		}
		if (req.Image == nil) == (req.Tensor == nil) {
			return nil, 0, http.StatusBadRequest, errors.New(`JSON body: want exactly one of "image" (base64 PNG/JPEG) and "tensor"`)
		}
		img, x, k = req.Image, req.Tensor, req.K
	case "multipart/form-data":
		if img, k, err = s.multipart(r); err != nil {
			return nil, 0, http.StatusBadRequest, err
		}
	default:
		return nil, 0, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json or multipart/form-data", ct)
	}
	if k, err = s.topK(k, r); err != nil {
		return nil, 0, http.StatusBadRequest, err
	}
	if img != nil {
		x, err = s.tensorOf(img)
	} else {
		err = s.checkTensor(x)
	}
	if err != nil {
		return nil, 0, http.StatusBadRequest, err
	}
	return x, k, 0, nil
}

// multipart reads the image file of field "image" and the optional field "k".
func (s *Server) multipart(r *http.Request) ([]byte, int, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, 0, fmt.Errorf("multipart body: %w", err)
	}
	var img []byte
	k := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("multipart body: %w", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, 0, fmt.Errorf("multipart field %q: %w", p.FormName(), err)
		}
		switch p.FormName() {
		case "image":
			img = b
		case "k":
			if k, err = strconv.Atoi(string(b)); err != nil {
				return nil, 0, fmt.Errorf("multipart field k %q: not an integer", b)
			}
		}
	}
	if img == nil {
		return nil, 0, errors.New(`multipart body: no field "image"`)
	}
	return img, k, nil
}

// topK resolves k: the body's, else the query's ?k=, else 5, within [1, MaxK].
func (s *Server) topK(k int, r *http.Request) (int, error) {
	if q := r.URL.Query().Get("k"); k == 0 && q != "" {
		var err error
		if k, err = strconv.Atoi(q); err != nil {
			return 0, fmt.Errorf("query k=%q: not an integer", q)
		}
	} else if k == 0 {
		k = 5
	}
	if k < 1 || k > s.cfg.MaxK {
		return 0, fmt.Errorf("k=%d: want 1 to %d", k, s.cfg.MaxK)
	}
	return k, nil
}

func (s *Server) tensorOf(data []byte) ([]float32, error) {
	s.decoding <- struct{}{}
	defer func() { <-s.decoding }()
	img, err := classify.Decode(data, s.cfg.MaxPixels)
	if err != nil {
		return nil, err
	}
	x := make([]float32, s.c.InputLen())
	if err := s.c.Tensor(img, x); err != nil {
		return nil, err
	}
	return x, nil
}

func (s *Server) checkTensor(x []float32) error {
	if len(x) != s.c.InputLen() {
		in := s.c.Model().Input()
		return fmt.Errorf("tensor of %d values: the model takes %d (%dx%dx%d, HWC, normalised)", len(x), s.c.InputLen(), in[0], in[1], in[2])
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor value %d is %g", i, v)
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
