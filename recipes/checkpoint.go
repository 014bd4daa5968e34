package recipes

import (
	"errors"
	"fmt"

	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/internal/container"
	"github.com/lowbit/lowbit/models"
)

// Checkpoint file layout: the internal/container envelope with magic
// "LBCKPT\x00\x01" and version 1; the header is the Checkpoint as JSON and
// the payload is the float32 data of every tensor in header order, then the
// optimizer state bytes.
var ckptFormat = container.Format{
	Magic: "LBCKPT\x00\x01", Version: 1, MaxHeader: 64 << 20, MaxFile: 4 << 30,
	Bad: ErrCheckpoint, Newer: ErrVersion, Noun: "checkpoint",
}

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
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("recipes: %w", err)
	}
	return nil
}

// Encode returns the checkpoint file bytes of c.
func (c *Checkpoint) Encode() ([]byte, error) {
	c.OptState = len(c.OptBytes)
	n := 0
	for _, d := range c.Data {
		n += 4 * len(d)
	}
	data := make([]byte, 0, n)
	for _, d := range c.Data {
		data = container.AppendF32(data, d)
	}
	b, err := ckptFormat.EncodeJSON(c, data, c.OptBytes)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	return b, nil
}

// LoadCheckpoint reads and verifies a checkpoint file. A path that is not a
// regular file, is over the size limit or lacks the magic is refused before
// it is read whole.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := ckptFormat.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DecodeCheckpoint parses and verifies checkpoint bytes.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	hdr, payload, err := ckptFormat.Decode(b)
	if err != nil {
		return nil, err
	}
	return decodeBody(hdr, payload)
}

// decodeBody parses a verified header and payload.
func decodeBody(hdr, payload []byte) (*Checkpoint, error) {
	c := &Checkpoint{}
	if err := ckptFormat.DecodeHeader(hdr, c, false); err != nil {
		return nil, err
	}
	p := container.NewPayload(payload)
	for _, t := range c.Tensors {
		n, ok := container.Count(p.Left()/4, t.Shape...)
		if !ok {
			return nil, fmt.Errorf("%w: tensor %s has shape %v, which exceeds the file (%d bytes left)", ErrCheckpoint, t.Name, t.Shape, p.Left())
		}
		s, _ := p.Next(4 * n)
		c.Data = append(c.Data, container.F32(s))
	}
	if c.OptState < 0 || c.OptState != p.Left() {
		return nil, fmt.Errorf("%w: optimizer state is %d bytes, header says %d", ErrCheckpoint, p.Left(), c.OptState)
	}
	rest, _ := p.Next(p.Left())
	c.OptBytes = append([]byte(nil), rest...)
	return c, nil
}

// Restore builds the checkpoint's model and loads its tensors into it.
func (c *Checkpoint) Restore() (*models.Model, error) {
	m, err := models.New(c.specWithMeta())
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
