package recipes

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/internal/container"
)

// TestCheckpointLayoutUnchanged builds the file byte by byte as the format
// was written before internal/container, and compares.
func TestCheckpointLayoutUnchanged(t *testing.T) {
	c := testCheckpoint(t, 3)
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := json.Marshal(c)
	var buf bytes.Buffer
	buf.WriteString("LBCKPT\x00\x01")
	binary.Write(&buf, binary.LittleEndian, uint32(1))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	for _, d := range c.Data {
		for _, v := range d {
			binary.Write(&buf, binary.LittleEndian, math.Float32bits(v))
		}
	}
	buf.Write(c.OptBytes)
	binary.Write(&buf, binary.LittleEndian, crc32.ChecksumIEEE(buf.Bytes()))
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("Encode gives %d bytes, the old layout %d", len(got), buf.Len())
	}
}

// withHeader re-encodes a checkpoint after editing its JSON header, with a valid CRC.
func withHeader(t *testing.T, edit func(string) string) []byte {
	t.Helper()
	b, err := testCheckpoint(t, 1).Encode()
	if err != nil {
		t.Fatal(err)
	}
	hdr, payload, err := ckptFormat.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ckptFormat.Encode([]byte(edit(string(hdr))), payload)
}

// TestCheckpointHeaderLimits: a header with a valid CRC that asks for a huge
// model is refused by the model limits before anything is allocated.
func TestCheckpointHeaderLimits(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"width 1e6", `"model":"mlp"`, `"model":"lenet5","width":1e6`, "width 1e+06 outside the limit"},
		{"input 1e5", `"input":[28,28,1]`, `"input":[100000,100000,1]`, "exceeds the limit of 4096×4096"},
		{"hidden 2e9", `"hidden":[64]`, `"hidden":[2000000000]`, "hidden width 2000000000"},
		{"tensor shape", `"shape":[`, `"shape":[1073741824,1073741824,`, "exceeds the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := withHeader(t, func(s string) string {
				if !strings.Contains(s, tc.from) {
					t.Fatalf("header lacks %s: %s", tc.from, s[:200])
				}
				return strings.Replace(s, tc.from, tc.to, 1)
			})
			c, err := DecodeCheckpoint(b)
			if err == nil {
				_, err = c.Restore()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadCheckpointRefusesNonRegularFiles(t *testing.T) {
	for _, p := range []string{"/dev/zero", t.TempDir(), filepath.Join(t.TempDir(), "missing.ckpt")} {
		_, err := LoadCheckpoint(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadCheckpoint(%s) = %v, want an error naming it", p, err)
		}
		if p == "/dev/zero" && !errors.Is(err, container.ErrNotRegular) {
			t.Errorf("LoadCheckpoint(/dev/zero) = %v, want ErrNotRegular", err)
		}
	}
}
