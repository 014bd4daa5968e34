package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/datatest"
)

// asCLIEnv makes the test binary act as the lowbit command (see TestMain), so
// the README test runs its commands without building lowbit.
const asCLIEnv = "LOWBIT_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// readmeCmd is one command of a ```sh block of README.md.
type readmeCmd struct {
	line int
	text string
}

var comment = regexp.MustCompile(`(^|\s)#\s.*$`)

// readmeCommands extracts the commands of README's ```sh blocks, joining
// continued lines and dropping comments.
func readmeCommands(md string) []readmeCmd {
	var out []readmeCmd
	in, cont := false, ""
	start := 0
	sc := bufio.NewScanner(strings.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if cont == "" {
			start = n
		}
		l = strings.TrimSpace(comment.ReplaceAllString(l, ""))
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		if l = strings.TrimSpace(cont + l); l != "" {
			out = append(out, readmeCmd{start, l})
		}
		cont = ""
	}
	return out
}

// repoPaths are the README's paths into the repository (and ../shared), made absolute.
var repoPaths = regexp.MustCompile(`(^|[\s@=(])(interop/|docs/serve/|\.\./shared/|testdata/)`)

// timeBox rewrites a README command into its time-boxed variant, or gives the
// reason it is not run. root is the repository.
func timeBox(text, root string) (cmd, skip string) {
	text = repoPaths.ReplaceAllString(text, "${1}"+root+"/${2}")
	f := strings.Fields(text)
	switch {
	case strings.HasPrefix(text, "go test"):
		return "", "the test suite itself"
	case strings.HasPrefix(text, "go build -tags mpi"), f[0] == "mpirun", f[0] == "srun", strings.HasPrefix(f[0], "./lowbit-mpi"):
		return "", "needs MPI hosts or Slurm; TestDist* builds -tags mpi and runs it under mpirun -np 2"
	case strings.HasPrefix(text, "go run -tags openblas ./cmd/lowbit bench kernels"):
		if exec.Command("pkg-config", "--exists", "openblas").Run() != nil {
			return "", "needs libopenblas-dev (apt-get install libopenblas-dev)"
		}
		return "go -C " + root + " run -tags openblas ./cmd/lowbit bench kernels -rounds 1 -sample 1ms -reruns 0 -networks xnor -o ''", ""
	case strings.HasPrefix(text, "go run ./examples/"):
		return "go -C " + root + " " + strings.TrimPrefix(text, "go ") + " -max-steps 20", ""
	case !strings.HasPrefix(text, "go run ./cmd/lowbit "):
		return text, ""
	}
	args := f[3:]
	var kept []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-epochs" || args[i] == "-max-steps" {
			i++
			continue
		}
		kept = append(kept, args[i])
	}
	verb := kept[0]
	if verb == "bench" && len(kept) > 1 {
		verb += " " + kept[1]
	}
	switch extra := map[string]string{
		"eval":           "-limit 500",
		"sensitivity":    "-limit 200",
		"bench accuracy": "-recipes fp -datasets mnist -max-steps 10 -limit 200 -ckpt runs/accuracy -o results",
		"bench train":    "-models lenet5 -recipes fp -rounds 1 -steps 2 -warmup 1 -torch '' -inprocess -o ''",
		"bench infer":    "-models resnet20/xnor -rounds 1 -runs 2 -batch 2 -batch-runs 1 -no-torch -inprocess -o ''",
		"bench imagenet": "-max-steps 2 -limit 16 -batch 8 -probe 1 -o -",
		"bench ptq":      "-bits 8/8 -calib 64 -ada-iters 5 -qat-epochs 0 -torch ''",
	}[verb]; {
	case verb == "train" && strings.Contains(text, "-resume"):
		kept = append(kept, "-max-steps", "40")
	case verb == "train":
		kept = append(kept, "-max-steps", "20")
	case extra != "":
		kept = append(kept, strings.Fields(extra)...)
	}
	return `"$LOWBIT" ` + strings.Join(kept, " "), ""
}

// TestReadmeCommands runs every ```sh command of README.md in a scratch
// directory, in order, the long ones time-boxed (timeBox).
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands; skipped with -short")
	}
	requireMNIST(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	env := append(os.Environ(), asCLIEnv+"=1", "LOWBIT="+self)
	addr := freeAddr(t) // the README's 127.0.0.1:8080 may be taken on a shared machine
	parent := t
	for _, c := range readmeCommands(string(md)) {
		c.text = strings.ReplaceAll(c.text, "127.0.0.1:8080", addr)
		name := fmt.Sprintf("L%d %s", c.line, c.text)
		t.Run(name[:min(len(name), 80)], func(t *testing.T) {
			cmd, skip := timeBox(c.text, root)
			if skip != "" {
				t.Skip(skip)
			}
			if strings.HasPrefix(cmd, "/usr/bin/python3") && exec.Command("/usr/bin/python3", "-c", "import torch").Run() != nil {
				datatest.Missing(t, "README line %d needs Debian python3-torch", c.line)
			}
			if strings.HasSuffix(cmd, "&") {
				startBackground(t, parent, strings.TrimSuffix(cmd, "&"), scratch, env)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			x := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; "+cmd)
			x.Dir, x.Env = scratch, env
			out, err := x.CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "dataset not found") {
					datatest.Missing(t, "README line %d: %s", c.line, lastLine(out))
				}
				t.Fatalf("README line %d: %s\n(ran: %s)\n%s", c.line, err, cmd, tail(out, 2000))
			}
		})
	}
}

// startBackground starts a README command that ends in & (a server) and waits
// for its -addr to answer /healthz; the end of parent (the whole README run) stops it.
func startBackground(t, parent *testing.T, cmd, dir string, env []string) {
	x := exec.Command("bash", "-c", "exec "+cmd)
	x.Dir, x.Env = dir, env
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	parent.Cleanup(func() { x.Process.Signal(os.Interrupt); x.Wait() })
	m := regexp.MustCompile(`-addr\s+(\S+)`).FindStringSubmatch(cmd)
	if m == nil {
		return
	}
	for i := 0; i < 300; i++ {
		if r, err := http.Get("http://" + m[1] + "/healthz"); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no answer on %s/healthz in 30 s", cmd, m[1])
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func lastLine(b []byte) string {
	s := strings.Split(strings.TrimSpace(string(b)), "\n")
	return s[len(s)-1]
}

func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }

func TestTimeBox(t *testing.T) {
	for _, tc := range []struct{ in, want, skip string }{
		{"go run ./cmd/lowbit train", `"$LOWBIT" train -max-steps 20`, ""},
		{"go run ./cmd/lowbit train -init-from interop/torch/testdata/lenet5.pt -epochs 1 -o runs/x.ckpt", `"$LOWBIT" train -init-from /R/interop/torch/testdata/lenet5.pt -o runs/x.ckpt -max-steps 20`, ""},
		{"go run ./cmd/lowbit train -o runs/fp -val 0.1 -max-steps 1000", `"$LOWBIT" train -o runs/fp -val 0.1 -max-steps 20`, ""},
		{"go run ./cmd/lowbit train -resume runs/fp", `"$LOWBIT" train -resume runs/fp -max-steps 40`, ""},
		{"go run ./cmd/lowbit eval runs/fp", `"$LOWBIT" eval runs/fp -limit 500`, ""},
		{"go run ./cmd/lowbit bench imagenet -dataset cifar10 -data ../shared/data/cifar10 -train -epochs 15", `"$LOWBIT" bench imagenet -dataset cifar10 -data /R/../shared/data/cifar10 -train -max-steps 2 -limit 16 -batch 8 -probe 1 -o -`, ""},
		{"curl -s -F image=@docs/serve/digit-7.png 'x'", "curl -s -F image=@/R/docs/serve/digit-7.png 'x'", ""},
		{"go test ./...", "", "the test suite itself"},
		{"mpirun -np 8 ./lowbit-mpi train", "", "needs MPI hosts or Slurm; TestDist* builds -tags mpi and runs it under mpirun -np 2"},
		{"go run ./examples/xnor-mnist", "go -C /R run ./examples/xnor-mnist -max-steps 20", ""},
	} {
		got, skip := timeBox(tc.in, "/R")
		if got != tc.want || skip != tc.skip {
			t.Errorf("timeBox(%q) = %q, %q; want %q, %q", tc.in, got, skip, tc.want, tc.skip)
		}
	}
	cmds := readmeCommands("x\n```sh\ngo run ./cmd/lowbit train   # a comment\ncurl -s \\\n  -d 1 a\n```\n```json\n{}\n```\n")
	if len(cmds) != 2 || cmds[0].text != "go run ./cmd/lowbit train" || cmds[1].text != "curl -s  -d 1 a" || cmds[1].line != 4 {
		t.Errorf("readmeCommands: %+v", cmds)
	}
}
