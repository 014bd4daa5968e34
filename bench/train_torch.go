package bench

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lowbit/lowbit/internal/benchproc"
)

// torchScript is bench/torch_train.py, written to a temporary file when the
// harness starts PyTorch, so the binary works from any directory.
//
//go:embed torch_train.py
var torchScript []byte

// torchModels are the models bench/torch_train.py builds.
var torchModels = map[string]bool{"lenet5": true, "resnet20": true, "resnet18": true}

// peerUnset are the variables a peer does not inherit: OpenBLAS reads them
// when it loads, and a forced core type (this project's machines set
// OPENBLAS_CORETYPE=Haswell) keeps it off its native kernel.
var peerUnset = benchproc.OpenBLASForcing()

// TorchInfo is what a PyTorch worker reports about itself (torch_train.py's
// "info" reply).
type TorchInfo struct {
	Torch    string `json:"torch"`
	Threads  int    `json:"threads"`
	BLASInfo string `json:"blas_info"` // BLAS_INFO of torch.__config__.show()
	// BLAS is the library in use: threadpoolctl's view when installed, else
	// the BLAS libraries mapped into the process (/proc/self/maps).
	BLAS     string `json:"blas"`
	CoreType string `json:"openblas_core"` // openblas_get_corename(), "" when not OpenBLAS
	MKLDNN   bool   `json:"mkldnn"`        // oneDNN available and enabled
	// Variant is the inference peer's form of the model (bench infer's
	// float peer: the fastest of eager, channels_last and to_mkldnn).
	Variant string `json:"variant,omitempty"`
}

// torchPeer is the PyTorch side of a run: the interpreter and the script.
type torchPeer struct {
	python, script string
	version        string
	threads        []int    // thread settings timed; the best is kept
	removed        []string // entries of our environment the peer did not get
}

// newTorchPeer checks that python imports torch and writes the script to
// a temporary directory (close removes it). A missing interpreter or torch
// gives a nil peer and a note.
func newTorchPeer(python string, threads int) (*torchPeer, string, error) {
	return newPeer(python, threads, []string{"torch"}, map[string][]byte{"torch_train.py": torchScript}, "torch_train.py")
}

// newPeer checks that python imports modules (printing their versions),
// writes files to a temporary directory and returns the peer that runs
// script there (close removes the directory). A missing interpreter or
// module gives a nil peer and a note.
func newPeer(python string, threads int, modules []string, files map[string][]byte, script string) (*torchPeer, string, error) {
	vers := make([]string, len(modules))
	for i, m := range modules {
		vers[i] = m + ".__version__"
	}
	probe := "import " + strings.Join(modules, ", ") + "; print(" + strings.Join(vers, ", ") + ")"
	out, err := exec.Command(python, "-c", probe).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Sprintf("PyTorch: not run (%s cannot import %s: %v %s)", python, strings.Join(modules, " and "), err, msg), nil
	}
	dir, err := os.MkdirTemp("", "lowbit-torch-")
	if err != nil {
		return nil, "", fmt.Errorf("bench: torch script: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, "", fmt.Errorf("bench: torch script: %w", err)
		}
	}
	// The first module's version alone, the others named: "1.13.0, torchvision 0.14.1".
	v := strings.Fields(string(out))
	version := strings.Join(v[:min(1, len(v))], "")
	for i := 1; i < len(v) && i < len(modules); i++ {
		version += ", " + modules[i] + " " + v[i]
	}
	t := &torchPeer{python: python, script: filepath.Join(dir, script), version: version,
		threads: []int{1}, removed: benchproc.Removed(os.Environ(), peerUnset)}
	if threads > 1 {
		t.threads = append(t.threads, threads)
	}
	return t, "", nil
}

// close removes the script; it may be called more than once.
func (t *torchPeer) close() { os.RemoveAll(filepath.Dir(t.script)) }

// command is the PyTorch worker for one model at one thread setting, with
// the peer's environment: OpenMP waits passive (spinning threads steal the
// cores Go's workers and the other peer need), OpenBLAS on its own kernel.
func (t *torchPeer) command(model string, batch, threads, warmup int, seed uint64) *exec.Cmd {
	cmd := exec.Command(t.python, t.script, "--model", model, "--batch", strconv.Itoa(batch),
		"--threads", strconv.Itoa(threads), "--warmup", strconv.Itoa(warmup), "--seed", strconv.FormatUint(seed, 10))
	cmd.Env = benchproc.PeerEnv(os.Environ(), peerUnset, "OMP_WAIT_POLICY=PASSIVE", fmt.Sprintf("OMP_NUM_THREADS=%d", threads))
	return cmd
}

// note is the report's PyTorch cell, from its workers' info replies.
func (t *torchPeer) note(infos []*TorchInfo) string {
	var set []string
	for _, n := range t.threads {
		set = append(set, fmt.Sprintf("torch.set_num_threads(%d)", n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PyTorch %s (%s), CPU, same model and batch, Adam, interleaved with ours in every round (bench/torch_train.py); %s timed, the faster median kept as \"pytorch\"",
		t.version, t.python, strings.Join(set, " and "))
	b.WriteString("; environment: OMP_WAIT_POLICY=PASSIVE, " + strings.Join(peerUnset, " and ") + " unset")
	if len(t.removed) > 0 {
		fmt.Fprintf(&b, " (ours had %s)", strings.Join(t.removed, ", "))
	}
	var formats []string
	for _, in := range infos {
		if in.Variant != "" {
			formats = append(formats, fmt.Sprintf("%s at %d thread(s)", in.Variant, in.Threads))
		}
	}
	if len(formats) > 0 {
		fmt.Fprintf(&b, "; memory format: the faster of NCHW and channels_last, chosen by a probe process before each worker starts (torch_train.py --probe): %s", strings.Join(formats, ", "))
	}
	if len(infos) > 0 {
		info := infos[0]
		core := info.CoreType
		if core == "" {
			core = "not OpenBLAS"
		}
		fmt.Fprintf(&b, "; BLAS_INFO=%s, BLAS in use: %s, OpenBLAS core: %s, oneDNN (mkldnn): %s", info.BLASInfo, info.BLAS, core, onOff(info.MKLDNN))
	}
	return b.String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
