package datasets

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"os"

	// Register the decoders DecodeImage reads.
	_ "image/jpeg"
	_ "image/png"
)

// MaxImagePixels caps the width × height of an image before it is decoded
// (64 megapixels): a small PNG or JPEG can announce a huge canvas, and
// decoding allocates for the canvas, not for the file.
const MaxImagePixels = 1 << 26

// MaxImageFileBytes caps the size of an image file read whole.
const MaxImageFileBytes = 256 << 20

// ErrImageTooLarge reports an image over MaxImagePixels.
var ErrImageTooLarge = fmt.Errorf("datasets: image over the pixel limit of %d: %w", MaxImagePixels, ErrFormat)

// DecodeImage decodes a PNG or JPEG after checking, from its header, that
// it has at most MaxImagePixels pixels; name labels errors.
func DecodeImage(data []byte, name string) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: corrupt image: %w", name, err)
	}
	if err := checkPixels(cfg, name); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: corrupt image: %w", name, err)
	}
	return img, nil
}

func checkPixels(cfg image.Config, name string) error {
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return fmt.Errorf("datasets: %s: %dx%d image: %w", name, cfg.Width, cfg.Height, ErrImageTooLarge)
	}
	return nil
}

// ReadImage reads and decodes the image file at path: a path that is not
// a regular file, is over MaxImageFileBytes or announces more than
// MaxImagePixels pixels is refused before it is read whole or decoded.
func ReadImage(path string) (image.Image, error) {
	data, err := readRegular(path, MaxImageFileBytes)
	if err != nil {
		return nil, err
	}
	return DecodeImage(data, path)
}

// readRegular reads a regular file of at most max bytes.
func readRegular(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path) // before opening: opening a FIFO blocks
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("datasets: %s: not a regular file (mode %v): %w", path, st.Mode().Type(), ErrFormat)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("datasets: %s: %d bytes, over the limit of %d: %w", path, st.Size(), max, ErrFormat)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("datasets: %s: over the limit of %d bytes: %w", path, max, ErrFormat)
	}
	return data, nil
}
