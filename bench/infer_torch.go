package bench

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/lowbit/lowbit/internal/benchproc"
)

// torchInferScript is bench/torch_infer.py; it imports torch_train.py's
// info helpers, so both are written beside each other.
//
//go:embed torch_infer.py
var torchInferScript []byte

// newInferPeer is newTorchPeer for the inference peers: it checks that
// python imports torch and torchvision and writes both scripts to a
// temporary directory. A missing interpreter, torch or torchvision gives a
// nil peer and a note.
func newInferPeer(python string, threads int) (*torchPeer, string, error) {
	files := map[string][]byte{"torch_train.py": torchScript, "torch_infer.py": torchInferScript}
	return newPeer(python, threads, []string{"torch", "torchvision"}, files, "torch_infer.py")
}

// inferCommand is the PyTorch inference peer at one thread setting, with
// the peer's environment (see command).
func (t *torchPeer) inferCommand(peer string, batch, threads int, seed uint64) *exec.Cmd {
	cmd := exec.Command(t.python, t.script, "--peer", peer, "--batch", strconv.Itoa(batch),
		"--threads", strconv.Itoa(threads), "--seed", strconv.FormatUint(seed, 10))
	cmd.Env = benchproc.PeerEnv(os.Environ(), peerUnset, "OMP_WAIT_POLICY=PASSIVE", fmt.Sprintf("OMP_NUM_THREADS=%d", threads))
	return cmd
}

// inferNote is the report's PyTorch cell for the inference peers.
func (t *torchPeer) inferNote(info *TorchInfo) string {
	var set []string
	for _, n := range t.threads {
		set = append(set, fmt.Sprintf("torch.set_num_threads(%d)", n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PyTorch %s (%s), CPU, torch.inference_mode(), interleaved with the engine in every round (bench/torch_infer.py): "+
		"float = torchvision resnet18 eval(), the fastest at batch 1 of eager NCHW, channels_last and torch.utils.mkldnn.to_mkldnn (oneDNN's layout); int8 = torchvision.models.quantization.resnet18(quantize=False), fuse_model(), "+
		"torch.backends.quantized.engine = \"onednn\", get_default_qconfig(\"onednn\"), prepare, 4 calibration batches, convert; one copy of the model per batch size, first called at that size (the int8 model ran batch 1 at 12 ms when batch 1 came first and 18-24 ms after a batch-32 call); one process per peer, timed at %s (set before each timing), its faster median kept for all-cores comparisons",
		t.version, t.python, strings.Join(set, " and "))
	fmt.Fprintf(&b, "; environment: OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS=%d (the largest setting), %s unset", t.threads[len(t.threads)-1], strings.Join(peerUnset, " and "))
	if len(t.removed) > 0 {
		fmt.Fprintf(&b, " (ours had %s)", strings.Join(t.removed, ", "))
	}
	if info != nil {
		core := info.CoreType
		if core == "" {
			core = "not OpenBLAS"
		}
		fmt.Fprintf(&b, "; BLAS_INFO=%s, BLAS in use: %s, OpenBLAS core: %s, oneDNN (mkldnn): %s", info.BLASInfo, info.BLAS, core, onOff(info.MKLDNN))
		if info.Variant != "" {
			fmt.Fprintf(&b, "; float variant chosen: %s", info.Variant)
		}
	}
	return b.String()
}

// parseTrace decodes an engine worker's "trace" reply.
func parseTrace(f []string) ([]LayerTime, error) {
	var lt []LayerTime
	if err := json.Unmarshal([]byte(strings.Join(f, " ")), &lt); err != nil {
		return nil, fmt.Errorf("bad trace reply: %w", err)
	}
	return lt, nil
}
