package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"

	"github.com/lowbit/lowbit/bitpack"
	"github.com/lowbit/lowbit/classify"
	"github.com/lowbit/lowbit/export"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/serve"
)

// Serve a packed model over HTTP and classify a PNG with a JSON request.
func Example() {
	m, err := models.New(models.Spec{Name: "lenet5", Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	bm, err := export.FreezeWith(m, bitpack.ModelInfo{Mean: []float32{0.1307}, Std: []float32{0.3081},
		ClassNames: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := classify.New(bm)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := serve.New(c, serve.Config{})
	defer s.Close()
	ts := httptest.NewServer(s.Handler()) // `lowbit serve` runs s.Serve on a listener instead
	defer ts.Close()

	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 28, 28)))
	resp, err := http.Post(ts.URL+"/v1/classify", "application/json", bytes.NewReader(serve.ImageRequest(img.Bytes(), 3)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var a struct {
		Labels []classify.Label
		Batch  int
	}
	err = json.NewDecoder(resp.Body).Decode(&a)
	fmt.Println(resp.Status, len(a.Labels), a.Batch, err)
	// Output: 200 OK 3 1 <nil>
}
