// Package serve answers image-classification requests over HTTP with a
// packed model (package classify), batching concurrent requests into one
// model run.
//
// Endpoints:
//
//	POST /v1/classify   application/json {"image": "<base64 PNG/JPEG>", "k": 5}
//	                    or {"tensor": [H·W·C normalised floats], "k": 5};
//	                    or multipart/form-data with the image in field "image"
//	                    (k in field "k" or the query ?k=)
//	                    → 200 {"labels": [{"class", "name", "prob", "logit"}...], "batch": n}
//	GET  /healthz       → 200 {"status": "ok", "model": ..., "input": [H, W, C], "classes": n}
//
// Every malformed request (bad JSON, wrong tensor length, not an image,
// too many pixels, body over the limit, wrong method or content type) is
// answered with a 4xx status and {"error": "..."}; the server never
// panics on input.
//
// Micro-batching: a handler decodes and normalises its image itself (in
// parallel across requests) and queues the tensor; one batcher goroutine
// takes the first queued request and, while other requests are still
// being read and decoded, waits for them (at most Config.MaxWait, up to
// Config.MaxBatch), then runs them as one batched Predict. A lone client
// is never delayed. Batching changes no answer: each sample's logits do
// not depend on the others in the batch (the tests compare served answers
// with single-image ones exactly).
//
// Shutdown (Server.Serve on context cancellation) stops accepting
// connections, lets in-flight requests finish (http.Server.Shutdown), then
// drains the batcher (Server.Close).
package serve
