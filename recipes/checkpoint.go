package recipes

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/models"
)

// Checkpoint file layout (little endian):
//
//	"LBCKPT\x00\x01" magic | uint32 format version | uint32 header length | header JSON |
//	float32 data of every tensor in header order | optimizer state bytes | uint32 CRC-32 (IEEE) of all before
const (
	ckptMagic   = "LBCKPT\x00\x01"
	ckptVersion = 1
	maxHeader   = 64 << 20
)

// Errors reported by LoadCheckpoint.
var (
	ErrCheckpoint = errors.New("recipes: bad checkpoint")
	ErrVersion    = errors.New("recipes: checkpoint from a newer lowbit")
)

// TensorInfo names one saved tensor.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Checkpoint is everything needed to evaluate a model or resume its training.
type Checkpoint struct {
	Model   models.Spec `json:"model"`
	Recipe  string      `json:"recipe,omitempty"`
	Dataset string      `json:"dataset"`
	Config  RunConfig   `json:"config"`
	Epoch   int         `json:"epoch"` // completed epochs
	// EpochStep counts the steps done in epoch Epoch+1 when the run stopped
	// mid-epoch (a MaxSteps stop); a resume continues from there.
	EpochStep int     `json:"epoch_step,omitempty"`
	Step      uint64  `json:"step"` // completed steps
	TestAcc   float64 `json:"test_acc"`
	// Tensors lists parameters then states, in Data order.
	Tensors   []TensorInfo `json:"tensors"`
	Optimizer string       `json:"optimizer"`
	OptState  int          `json:"opt_state_bytes"`

	Data     [][]float32 `json:"-"`
	OptBytes []byte      `json:"-"`
}

// RunConfig holds the settings a resumed run must keep. Epochs is the
// schedule's total. The fields marked optional are absent from checkpoints of
// older builds; a resume then takes them from the recipe or the defaults.
type RunConfig struct {
	Epochs     int     `json:"epochs"`
	Batch      int     `json:"batch"`
	LR         float32 `json:"lr"`
	Optimizer  string  `json:"optimizer"`
	Schedule   string  `json:"schedule"`
	Seed       uint64  `json:"seed"`
	LatentClip float32 `json:"latent_clip,omitempty"`
	Scaling    string  `json:"scaling,omitempty"`

	FinalLR float32    `json:"final_lr,omitempty"` // optional
	Warmup  int        `json:"warmup,omitempty"`   // optional
	Opt     *OptConfig `json:"opt,omitempty"`      // optional
	// Threads is the GEMM thread count the run trained with (optional);
	// see Config.Threads.
	Threads int `json:"threads,omitempty"`
}

// Save writes c to path atomically: a temp file in the same directory, fsync, rename.
// A crash at any point leaves the previous file at path intact.
func (c *Checkpoint) Save(path string) error {
	c.OptState = len(c.OptBytes)
	hdr, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("recipes: checkpoint header: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(ckptMagic)
	binary.Write(&buf, binary.LittleEndian, uint32(ckptVersion))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	for _, d := range c.Data {
		b := make([]byte, 4*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		buf.Write(b)
	}
	buf.Write(c.OptBytes)
	binary.Write(&buf, binary.LittleEndian, crc32.ChecksumIEEE(buf.Bytes()))
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("recipes: %w", err)
	}
	return nil
}

// LoadCheckpoint reads and verifies a checkpoint file.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DecodeCheckpoint parses checkpoint bytes.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCheckpoint, fmt.Sprintf(format, args...))
	}
	if len(b) < len(ckptMagic)+12 {
		return nil, bad("file too short (%d bytes)", len(b))
	}
	if string(b[:len(ckptMagic)]) != ckptMagic {
		return nil, bad("not a lowbit checkpoint (wrong magic)")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	r := bytes.NewReader(b[len(ckptMagic):])
	var ver, hlen uint32
	binary.Read(r, binary.LittleEndian, &ver)
	binary.Read(r, binary.LittleEndian, &hlen)
	if ver > ckptVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads up to %d", ErrVersion, ver, ckptVersion)
	}
	if ver == 0 {
		return nil, bad("format version 0")
	}
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum mismatch (truncated or corrupted)")
	}
	if hlen > maxHeader || int(hlen) > r.Len() {
		return nil, bad("header length %d exceeds file", hlen)
	}
	hdr := make([]byte, hlen)
	io.ReadFull(r, hdr)
	c := &Checkpoint{}
	if err := json.Unmarshal(hdr, c); err != nil {
		return nil, bad("header: %v", err)
	}
	rest := len(body) - len(ckptMagic) - 8 - int(hlen)
	off := len(ckptMagic) + 8 + int(hlen)
	for _, t := range c.Tensors {
		n := 1
		for _, d := range t.Shape {
			if d <= 0 || d > 1<<30 {
				return nil, bad("tensor %s has shape %v", t.Name, t.Shape)
			}
			n *= d
			if n > rest/4 {
				return nil, bad("tensor %s (%v) exceeds the file", t.Name, t.Shape)
			}
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
		}
		c.Data = append(c.Data, d)
		off += 4 * n
		rest -= 4 * n
	}
	if c.OptState < 0 || c.OptState != rest {
		return nil, bad("optimizer state is %d bytes, header says %d", rest, c.OptState)
	}
	c.OptBytes = append([]byte(nil), b[off:off+rest]...)
	return c, nil
}

// Restore builds the checkpoint's model and loads its tensors into it.
func (c *Checkpoint) Restore() (*models.Model, error) {
	m, err := models.New(c.Model)
	if err != nil {
		return nil, fmt.Errorf("recipes: checkpoint model: %w", err)
	}
	if err := c.LoadInto(m); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadInto copies the checkpoint's tensors into m, checking names and shapes.
func (c *Checkpoint) LoadInto(m *models.Model) error {
	if err := c.CheckFinite(); err != nil {
		return err
	}
	dst := modelTensors(m)
	if len(dst) != len(c.Tensors) {
		return fmt.Errorf("%w: it holds %d tensors, model %s has %d", ErrCheckpoint, len(c.Tensors), m.Spec.Name, len(dst))
	}
	for i, t := range c.Tensors {
		if t.Name != dst[i].Name || len(c.Data[i]) != len(dst[i].Data) {
			return fmt.Errorf("%w: tensor %d is %s %v, model %s expects %s with %d values", ErrCheckpoint, i, t.Name, t.Shape, m.Spec.Name, dst[i].Name, len(dst[i].Data))
		}
	}
	for i := range c.Tensors {
		copy(dst[i].Data, c.Data[i])
		if dst[i].Push != nil {
			dst[i].Push()
		}
	}
	return nil
}

type namedData struct {
	Name       string
	Shape      []int
	Data       []float32
	Pull, Push func()
}

// modelTensors lists a model's parameters then its states, the checkpoint order.
func modelTensors(m *models.Model) []namedData {
	var out []namedData
	for _, p := range m.Params() {
		out = append(out, namedData{Name: p.Name, Shape: p.Value.Shape().Clone(), Data: p.Data()})
	}
	for _, s := range m.States() {
		out = append(out, namedData{s.Name, []int{len(s.Data)}, s.Data, s.Pull, s.Push})
	}
	return out
}

// snapshot fills the tensor fields of c from m (copies, so later steps do not change it).
func (c *Checkpoint) snapshot(m *models.Model) {
	c.Tensors, c.Data = nil, nil
	for _, t := range modelTensors(m) {
		if t.Pull != nil {
			t.Pull()
		}
		c.Tensors = append(c.Tensors, TensorInfo{t.Name, t.Shape})
		c.Data = append(c.Data, append([]float32(nil), t.Data...))
	}
}

// Snapshot fills c's tensor list and data from m (copies), as training does before a
// save; tools that rewrite a model's tensors (post-training quantization) use it.
func (c *Checkpoint) Snapshot(m *models.Model) { c.snapshot(m) }
