package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lowbit/lowbit/datasets"
	"github.com/lowbit/lowbit/internal/atomicfile"
	"github.com/lowbit/lowbit/layers"
	"github.com/lowbit/lowbit/ptq"
)

// torchLayer describes one conv/dense layer for bench/torch_ptq.py.
type torchLayer struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"` // conv or dense
	In     int     `json:"in"`
	Out    int     `json:"out"`
	Kernel int     `json:"kernel,omitempty"`
	Stride int     `json:"stride,omitempty"`
	Pad    int     `json:"pad,omitempty"`
	Bias   bool    `json:"bias"`
	BN     bool    `json:"bn"`
	Eps    float32 `json:"eps,omitempty"`
}

// stTensor is one safetensors entry.
type stTensor struct {
	dtype string
	shape []int
	data  []byte
}

// writeSafetensors writes tensors in the safetensors format: an 8-byte little-endian
// header length, the JSON header (names → dtype, shape, data offsets; __metadata__),
// then the raw little-endian data.
func writeSafetensors(path string, ts map[string]stTensor, meta map[string]string) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr := map[string]any{"__metadata__": meta}
	var body bytes.Buffer
	for _, n := range names {
		t := ts[n]
		off := body.Len()
		body.Write(t.data)
		hdr[n] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int{off, body.Len()}}
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(body.Bytes())
	return atomicfile.Write(path, out.Bytes())
}

func f32Tensor(v []float32, shape ...int) stTensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return stTensor{"F32", shape, b}
}

func i32Tensor(v []int, shape ...int) stTensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(x)))
	}
	return stTensor{"I32", shape, b}
}

// peerFile writes the float model's layers (in execution order, weights OHWI), the
// calibration images and the test split for the PyTorch peer.
func peerFile(path string, d *ptqData) error {
	m, err := d.ck.Restore()
	if err != nil {
		return err
	}
	ts := map[string]stTensor{}
	var ls []torchLayer
	for i, s := range ptq.Sites(m) {
		p := fmt.Sprintf("layer.%d.", i)
		tl := torchLayer{Name: s.Layer.Name(), BN: s.BN != nil}
		var w, b *layers.Param
		switch v := s.Layer.(type) {
		case *layers.Conv2D:
			c := v.Config()
			tl.Kind, tl.In, tl.Out, tl.Kernel, tl.Stride, tl.Pad = "conv", c.In, c.Out, c.Kernel, c.Stride, c.Pad
			w, b = v.W, v.B
		case *layers.Dense:
			c := v.Config()
			tl.Kind, tl.In, tl.Out = "dense", c.In, c.Out
			w, b = v.W, v.B
		}
		ts[p+"weight"] = f32Tensor(w.Data(), w.Value.Shape()...)
		if b != nil {
			tl.Bias = true
			ts[p+"bias"] = f32Tensor(b.Data(), tl.Out)
		}
		if s.BN != nil {
			tl.Eps = s.BN.Config().Eps
			ts[p+"bn.weight"] = f32Tensor(s.BN.Scale(), tl.Out)
			ts[p+"bn.bias"] = f32Tensor(s.BN.Beta.Data(), tl.Out)
			ts[p+"bn.running_mean"] = f32Tensor(s.BN.RunMean, tl.Out)
			ts[p+"bn.running_var"] = f32Tensor(s.BN.RunVar, tl.Out)
		}
		ls = append(ls, tl)
	}
	in := m.Spec.Input
	n := len(d.calib.Labels)
	ts["calib.x"] = f32Tensor(d.calib.X, n, in[0], in[1], in[2])
	ts["calib.y"] = i32Tensor(d.calib.Labels, n)
	tx, ty, err := loadAll(d.test)
	if err != nil {
		return err
	}
	ts["test.x"] = f32Tensor(tx, len(ty), in[0], in[1], in[2])
	ts["test.y"] = i32Tensor(ty, len(ty))
	lj, err := json.Marshal(ls)
	if err != nil {
		return err
	}
	return writeSafetensors(path, ts, map[string]string{"model": m.Spec.Name, "layers": string(lj)})
}

// torchResult is what bench/torch_ptq.py prints.
type torchResult struct {
	Acc, FPAcc, Seconds float64
	Engine, Torch       string
	Threads             int
}

// torch quantizes the target's float model with PyTorch's own post-training path
// (W8A8) and records it beside lowbit's rows.
func (g *ptqGrid) torch(d *ptqData) error {
	cell := d.base
	cell.Kind, cell.WBits, cell.ABits = KindTorch, 8, 8
	if g.has(cell) {
		return nil
	}
	if d.ck.Model.Name != "resnet20" {
		return nil // the script builds ResNet-20 only
	}
	path := filepath.Join(g.cfg.Scratch, "ptq-peer-"+d.ck.Dataset+".safetensors")
	if err := os.MkdirAll(g.cfg.Scratch, 0o755); err != nil {
		return err
	}
	if err := peerFile(path, d); err != nil {
		return fmt.Errorf("bench: PyTorch peer file: %w", err)
	}
	cmd := exec.Command(g.cfg.Torch, filepath.Join("bench", "torch_ptq.py"), path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bench: %s bench/torch_ptq.py: %w: %s", g.cfg.Torch, err, strings.TrimSpace(stderr.String()))
	}
	var r torchResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return fmt.Errorf("bench: bench/torch_ptq.py output %q: %w", lines[len(lines)-1], err)
	}
	cell.Acc, cell.Seconds = r.Acc, r.Seconds
	cell.Detail = fmt.Sprintf("torch %s, engine %s, get_default_qconfig(%q) (per-channel weights, histogram observer), conv+BN+ReLU fused, %d threads; its float model scores %.2f", r.Torch, r.Engine, r.Engine, r.Threads, r.FPAcc)
	return g.add(cell)
}

// maxPeerImages caps the test images copied into the peer file.
const maxPeerImages = 1 << 16

// loadAll reads every example of ds with its evaluation transform.
func loadAll(ds datasets.Dataset) ([]float32, []int, error) {
	n := ds.Len()
	if n > maxPeerImages {
		return nil, nil, fmt.Errorf("bench: %d test images for the peer file, at most %d", n, maxPeerImages)
	}
	h, w, c := ds.Shape()
	per := h * w * c
	x, y := make([]float32, n*per), make([]int, n)
	for i := range n {
		l, err := ds.Example(i, x[i*per:(i+1)*per], nil)
		if err != nil {
			return nil, nil, err
		}
		y[i] = l
	}
	return x, y, nil
}
