package ste_test

import (
	"github.com/lowbit/lowbit/ste"

	"errors"
	"math"
	"strings"
	"testing"
)

type kmeansCase struct {
	name     string
	spec     string
	str      string
	init     []float32 // Target.Init
	wantInit []float32 // linear over [min, max]
	c        []float32 // centroids for the pass (nil: the initial ones)
	w, g     []float32
	wantQ    []float32
	wantGC   []float32 // Σ of g per cluster
	central  bool      // no ties: check ∂L/∂c by central differences
}

func TestKMeans(t *testing.T) {
	cases := []kmeansCase{{
		// 2 centroids {−1, 3}. w = 1 is equidistant: the tie goes to index 0.
		name: "1 bit", spec: "kmeans(bits=1)", str: "kmeans(bits=1)",
		init: []float32{-1, 0, 1, 3}, wantInit: []float32{-1, 3},
		w: []float32{-1, 0, 1, 3}, g: []float32{1, 2, 3, 4},
		wantQ:  []float32{-1, -1, -1, 3},
		wantGC: []float32{6, 4},
	}, {
		// 4 centroids {−1, 1/3, 5/3, 3}.
		name: "2 bits", spec: "kmeans(bits=2)", str: "kmeans(bits=2)",
		init: []float32{3, -1, 0.5, 2}, wantInit: []float32{-1, 1.0 / 3, 5.0 / 3, 3},
		w: []float32{3, -1, 0.5, 2, 10, -0.2}, g: []float32{1, 2, 3, 4, 5, 6},
		wantQ:   []float32{3, -1, 1.0 / 3, 5.0 / 3, 3, 1.0 / 3},
		wantGC:  []float32{2, 3 + 6, 4, 1 + 5},
		central: true,
	}, {
		// Trained centroids, unsorted with a duplicate: c = {2, 0, 2, −1}. w = 1 ties between
		// c0 = 2 and c1 = 0 → index 0; w = 2 matches c0 and c2 → index 0; w = −0.5 ties
		// between c1 = 0 and c3 = −1 → index 1. Index 2 gets nothing.
		name: "unsorted duplicates", spec: "kmeans(bits=2)", str: "kmeans(bits=2)",
		init: []float32{-1, 2}, wantInit: []float32{-1, 0, 1, 2},
		c: []float32{2, 0, 2, -1},
		w: []float32{1, 2, -0.5, 5, -3}, g: []float32{1, 2, 3, 4, 5},
		wantQ:  []float32{2, 2, 0, 2, -1},
		wantGC: []float32{1 + 2 + 4, 3, 0, 5},
	}, {
		name: "default bits", spec: "kmeans", str: "kmeans(bits=4)",
		init: []float32{0, 15}, wantInit: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		w: []float32{0.4, 7.5, 8.6, 20}, g: []float32{1, 1, 1, 1},
		wantQ:  []float32{0, 7, 9, 15}, // 7.5 ties 7 (index 7) and 8 → 7
		wantGC: []float32{1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1},
	}}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func (c kmeansCase) run(t *testing.T) {
	q, f := qtBuild(t, c.spec, ste.Target{Shape: []int{1, len(c.init)}, Role: ste.Weights, Init: c.init})
	if q.String() != c.str || q.Name() != "kmeans" || len(c.wantInit) != 1<<q.BitsFor(ste.Weights) {
		t.Fatalf("Parse(%q) = %q", c.spec, q.String())
	}
	qtRoundTrip(t, q)
	ps := f.Params()
	if len(ps) != 1 || ps[0].Name != "centroids" {
		t.Fatalf("params %+v", ps)
	}
	qtClose(t, "init", ps[0].Data, c.wantInit, 1e-6)
	p := initialParams(f)
	if c.c != nil {
		p = [][]float32{c.c}
	}
	y := qtForward(t, f, c.w, p, 1)
	qtClose(t, "q", y, c.wantQ, 1e-6)
	qtClose(t, "q(q)", qtForward(t, f, y, p, 1), y, 0)
	qtClose(t, "dW", qtGrad(t, f, 0, len(c.w), c.g, c.w, p, 1), c.g, 0)
	dc := qtGrad(t, f, 1, len(p[0]), c.g, c.w, p, 1)
	qtClose(t, "dc", dc, c.wantGC, 0)
	// q is linear in the centroids (assignments fixed for small moves), so central
	// differences of Σ g·q match ∂L/∂c_k when no weight sits on a tie.
	if c.central {
		const h = 1e-3
		for k := range p[0] {
			hi, lo := initialParams(f), initialParams(f)
			hi[0][k] += h
			lo[0][k] -= h
			num := (qtLoss(t, f, c.g, c.w, hi, 1) - qtLoss(t, f, c.g, c.w, lo, 1)) / (2 * h)
			qtClose(t, "central difference", []float32{float32(num)}, dc[k:k+1], 1e-3)
		}
	}
}

func TestRecluster(t *testing.T) {
	cases := []struct {
		name string
		w    []float32
		c    []float32
		want []float32
	}{{
		// iter 1: {0, .1, .2, 1.0 (tie → 0)} and {1.1, 1.2} → c = {0.325, 1.15};
		// iter 2: 1.0 moves → c = {0.1, 1.1}; iter 3: no change.
		name: "two clusters",
		w:    []float32{0, 0.1, 0.2, 1.0, 1.1, 1.2},
		c:    []float32{0, 2},
		want: []float32{0.1, 1.1},
	}, {
		// centroid 1 gets no weights and keeps its value.
		name: "empty cluster",
		w:    []float32{1, 2, 3},
		c:    []float32{0, 10},
		want: []float32{2, 10},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ste.Recluster(c.w, c.c); err != nil {
				t.Fatal(err)
			}
			qtClose(t, "centroids", c.c, c.want, 1e-6)
		})
	}
	if err := ste.Recluster(nil, []float32{0, 1}); err == nil {
		t.Error("Recluster with no weights: no error")
	}
	if err := ste.Recluster([]float32{1}, []float32{float32(math.NaN()), 1}); err == nil {
		t.Error("Recluster with a NaN centroid: no error")
	}
}

func TestKMeansLazyInit(t *testing.T) {
	// Inputs have no initial data: the centroids start at zero and are placed over the
	// first tensor's range in place.
	_, f := qtBuild(t, "kmeans(bits=1)", ste.Target{Shape: []int{1, 3}, Role: ste.Inputs})
	p := initialParams(f)
	qtClose(t, "init", p[0], []float32{0, 0}, 0)
	y := qtForward(t, f, []float32{-2, 0.5, 4}, p, 1)
	qtClose(t, "centroids", p[0], []float32{-2, 4}, 0)
	qtClose(t, "q", y, []float32{-2, -2, 4}, 0)
}

func TestKMeansErrors(t *testing.T) {
	_, f := qtBuild(t, "kmeans(bits=1)", ste.Target{Shape: []int{1, 3}, Role: ste.Weights, Init: []float32{0, 1, 2}})
	x := []float32{1, 2, 3}
	y := make([]float32, 3)
	c := [][]float32{{0, 2}}
	cases := []struct {
		name string
		err  error
	}{
		{"centroid count", f.Forward(y, x, [][]float32{{1, 2, 3}}, ste.Ctx{Rows: 1})},
		{"no params", f.Forward(y, x, nil, ste.Ctx{Rows: 1})},
		{"nan centroid", f.Forward(y, x, [][]float32{{float32(math.NaN()), 1}}, ste.Ctx{Rows: 1})},
		{"inf centroid", f.Grad(1, y[:2], x, x, y, [][]float32{{float32(math.Inf(1)), 1}}, ste.Ctx{Rows: 1})},
		{"length", f.Forward(y[:2], x, c, ste.Ctx{Rows: 1})},
		{"grad length", f.Grad(0, y[:2], x, x, y, c, ste.Ctx{Rows: 1})},
		{"grad centroid length", f.Grad(1, y, x, x, y, c, ste.Ctx{Rows: 1})},
		{"wrt", f.Grad(2, y, x, x, y, c, ste.Ctx{Rows: 1})},
		{"build bits", func() error { _, err := (ste.KMeans{Bits: 17}).Build(ste.Target{Shape: []int{1}}); return err }()},
		{"build nan", func() error {
			_, err := (ste.KMeans{Bits: 1}).Build(ste.Target{Shape: []int{1}, Init: []float32{float32(math.NaN())}})
			return err
		}()},
		{"parse bits", func() error { _, err := ste.Parse("kmeans(bits=0)"); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(c.err.Error(), "kmeans") {
				t.Fatalf("error %q does not name kmeans", c.err)
			}
		})
	}
	if err := f.Forward(y, x, [][]float32{{float32(math.NaN()), 1}}, ste.Ctx{Rows: 1}); !errors.Is(err, ste.ErrParam) {
		t.Fatalf("NaN centroid: %v, want ErrParam", err)
	}
}
