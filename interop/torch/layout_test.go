package torch_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lowbit/lowbit/interop/torch"
	"github.com/lowbit/lowbit/models"
)

// TestLayoutMatchesPyTorch compares each model's PyTorch layout, name by name and
// shape by shape in state_dict order, with the state_dict keys and shapes PyTorch
// itself gave (testdata/state_dicts.json; ResNet-18 is torchvision's resnet18).
func TestLayoutMatchesPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/state_dicts.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][][2]json.RawMessage
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lenet5", "resnet20", "resnet18", "vgg-small", "alexnet"} {
		t.Run(name, func(t *testing.T) {
			entries, ok := want[name]
			if !ok {
				t.Fatalf("state_dicts.json has no %s", name)
			}
			var wantLines []string
			for _, e := range entries {
				var n string
				var shape []int
				if err := json.Unmarshal(e[0], &n); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(e[1], &shape); err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(n, ".num_batches_tracked") {
					wantLines = append(wantLines, fmt.Sprint(n, shape))
				}
			}
			m, err := models.New(models.Spec{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			names, shapes, err := torch.Layout(m)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := range names {
				got = append(got, fmt.Sprint(names[i], shapes[i]))
			}
			if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
				t.Errorf("layout differs from PyTorch's state_dict:\n%s", diff(got, wantLines))
			}
			t.Logf("%d tensors match", len(got))
		})
	}
}

// diff lists the first lines where two listings differ.
func diff(got, want []string) string {
	var out []string
	for i := 0; i < max(len(got), len(want)) && len(out) < 10; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			out = append(out, fmt.Sprintf("%d: lowbit %q, PyTorch %q", i, g, w))
		}
	}
	return strings.Join(out, "\n")
}
