package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
	"github.com/lowbit/lowbit/recipes"
)

func init() {
	register("convert", "write a checkpoint's float weights as a PyTorch state_dict (CKPT -o model.safetensors)", cmdConvert)
}

// cmdConvert writes a checkpoint's model in its PyTorch layout (interop/torch) as
// safetensors, for load_state_dict(strict=True). A quantized model's latent float
// weights are written, not q(W), and no quantizer parameter.
func cmdConvert(args []string, stdout io.Writer) error {
	fs := newFlags("convert")
	out := fs.String("o", "", "output .safetensors file (default: the checkpoint path with .safetensors)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want one checkpoint path, got %d arguments (usage: lowbit convert CKPT -o FILE.safetensors)", len(pos))
	}
	path := *out
	if path == "" {
		path = strings.TrimSuffix(pos[0], ".ckpt") + ".safetensors"
	}
	ck, err := recipes.LoadCheckpoint(pos[0])
	if err != nil {
		return err
	}
	m, err := ck.Restore()
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	sd, err := torch.Export(m, int64(ck.Step))
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	spec, err := json.Marshal(m.Spec)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", "lowbit.model": string(spec), "lowbit.dataset": ck.Dataset}
	if err := torch.WriteSafetensors(path, sd, meta); err != nil {
		return err
	}
	note := ""
	if m.Spec.Weights != nil || m.Spec.Inputs != nil || m.Spec.Policy == models.Int8 || len(m.Spec.Override) > 0 {
		note = " (latent float weights; quantizers are not part of a state_dict)"
	}
	fmt.Fprintf(stdout, "converted %s (%s) to %s: %d tensors in PyTorch's %s layout%s\n", pos[0], m.Spec.String(), path, len(sd.Names), m.Spec.Name, note)
	return nil
}
