package serve

import (
	"bytes"
	"net/http/httptest"
	"sync"
	"testing"
)

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
)

// FuzzClassifyRequest sends arbitrary bodies under each content type to
// the handler: every answer is a JSON status below 500 (a 503 never
// happens here: the server is not closed), and nothing panics.
func FuzzClassifyRequest(f *testing.F) {
	good := pngOf(f, 1, 28, 28, false)
	ct, mp := multipartBody(f, good, "2")
	for _, seed := range []struct {
		ct   string
		body []byte
	}{
		{"application/json", ImageRequest(good, 3)},
		{"application/json", []byte(`{"tensor": [0.5, 1], "k": 2}`)},
		{"application/json", []byte(`{"image": "AAAA"`)},
		{ct, mp},
		{"multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n--x--\r\n")},
		{"image/png", good},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		fuzzOnce.Do(func() { fuzzServer = New(testClassifier(t), Config{MaxBody: 1 << 16, MaxPixels: 1 << 12}) })
		req := httptest.NewRequest("POST", "/v1/classify", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		fuzzServer.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 || !bytes.HasPrefix(rec.Body.Bytes(), []byte("{")) {
			t.Fatalf("status %d body %q", rec.Code, rec.Body.Bytes())
		}
	})
}
