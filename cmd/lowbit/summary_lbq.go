package main

import (
	"fmt"
	"io"
)

// summarizeModelFile reports an exported model file; see export.go.
func summarizeModelFile(path string, w io.Writer) error {
	return fmt.Errorf("%s: packed model files are read by 'lowbit summary' once the export format lands", path)
}
