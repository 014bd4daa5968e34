package main

import (
	"io"

	"github.com/lowbit/lowbit/bitpack"
)

// summarizeModelFile reports an exported model file: per layer its kind,
// kernel, quantizers and bytes, and the file size against fp32.
func summarizeModelFile(path string, w io.Writer) error {
	bm, err := bitpack.Load(path)
	if err != nil {
		return err
	}
	return writeModelReport(w, bm, path)
}
