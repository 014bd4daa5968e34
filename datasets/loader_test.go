package datasets

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/lowbit/lowbit/internal/datatest"
)

func TestStepsPerEpoch(t *testing.T) {
	ds, err := MNIST("testdata/mnist", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		batch    int
		dropLast bool
		steps    int
		last     int
	}{
		{10, false, 10, 10},
		{30, false, 4, 10},
		{30, true, 3, 30},
		{100, true, 1, 100},
		{128, false, 1, 100},
		{128, true, 0, 0},
	}
	for _, tt := range tests {
		l, err := NewLoader(ds, LoaderConfig{Batch: tt.batch, DropLast: tt.dropLast, Shuffle: true, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.StepsPerEpoch(); got != tt.steps {
			t.Errorf("batch %d dropLast %v: %d steps, want %d", tt.batch, tt.dropLast, got, tt.steps)
		}
		it := l.Epoch(3)
		var b Batch
		steps, last := 0, 0
		for it.Next(&b) {
			steps++
			last = b.N
		}
		if it.Err() != nil || steps != tt.steps || last != tt.last {
			t.Errorf("batch %d dropLast %v: %d batches, last %d, err %v", tt.batch, tt.dropLast, steps, last, it.Err())
		}
	}
}

func TestNewLoaderErrors(t *testing.T) {
	ds, err := MNIST("testdata/mnist", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []LoaderConfig{{}, {Batch: -1}, {Batch: 1, Workers: -1}, {Batch: 1, Prefetch: -2}} {
		if _, err := NewLoader(ds, cfg); err == nil {
			t.Errorf("NewLoader(%+v) gave no error", cfg)
		}
	}
	if _, err := NewLoader(nil, LoaderConfig{Batch: 1}); err == nil {
		t.Error("NewLoader(nil) gave no error")
	}
}

// collect reads a whole epoch.
func collect(t testing.TB, l *Loader, epoch int) (x []float32, y []int32) {
	t.Helper()
	it := l.Epoch(epoch)
	defer it.Close()
	var b Batch
	for it.Next(&b) {
		x = append(x, b.X...)
		y = append(y, b.Y...)
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return x, y
}

func TestLoaderOrder(t *testing.T) {
	ds, err := MNIST("testdata/mnist", "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderConfig{Batch: 7, Shuffle: true, Seed: 42, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	order := l.Order(5)
	want := rand.New(rand.NewPCG(42, 5)).Perm(ds.Len())
	if !slices.Equal(order, want) {
		t.Fatal("Order(5) is not rand.New(rand.NewPCG(Seed, 5)).Perm(Len)")
	}
	if slices.Equal(l.Order(5), l.Order(6)) {
		t.Error("epochs 5 and 6 have the same order")
	}
	_, y := collect(t, l, 5)
	for i, idx := range order {
		if int(y[i]) != ds.Label(idx) {
			t.Fatalf("position %d: label %d, want example %d's %d", i, y[i], idx, ds.Label(idx))
		}
	}
	plain, err := NewLoader(ds, LoaderConfig{Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range plain.Order(1) {
		if v != i {
			t.Fatal("unshuffled order is not the identity")
		}
	}
}

// The batches of an epoch depend on (Seed, epoch) only, not on Workers or
// Prefetch, and Loader.ExampleRNG reproduces one example.
func TestLoaderDeterministic(t *testing.T) {
	type set struct {
		name string
		open func(t *testing.T) Dataset
	}
	sets := []set{
		{"mnist augmented", func(t *testing.T) Dataset {
			ds, err := MNIST("testdata/mnist", "train", Options{Transform: &Pipeline{RandomCrop: RandomCrop{Size: 28, Padding: 2}, HFlip: 0.5}})
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}},
		{"imagenette testdata", func(t *testing.T) Dataset {
			ds, err := Open("imagenette", "train", "testdata/imagenette", Options{})
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}},
		{"cifar10 shared", func(t *testing.T) Dataset {
			ds, err := Open("cifar10", "test", datatest.SharedData(t, "cifar10"), Options{Transform: ptr(CIFARTrain())})
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}},
	}
	for _, s := range sets {
		t.Run(s.name, func(t *testing.T) {
			ds := s.open(t)
			var refX []float32
			var refY []int32
			for _, wp := range [][2]int{{1, 1}, {4, 3}, {2, 1}} {
				l, err := NewLoader(ds, LoaderConfig{Batch: 5, Shuffle: true, Seed: 9, Workers: wp[0], Prefetch: wp[1]})
				if err != nil {
					t.Fatal(err)
				}
				x, y := collect(t, l, 2)
				if refX == nil {
					refX, refY = x, y
					// Check one example against a direct call.
					h, w, c := ds.Shape()
					one := make([]float32, h*w*c)
					idx := l.Order(2)[1]
					if _, err := ds.Example(idx, one, l.ExampleRNG(2, idx)); err != nil {
						t.Fatal(err)
					}
					if !equalF(one, x[len(one):2*len(one)]) {
						t.Fatal("ExampleRNG does not reproduce the loader's example")
					}
					x3, _ := collect(t, l, 3)
					if equalF(x3, x) {
						t.Fatal("epochs 2 and 3 gave the same batches")
					}
					continue
				}
				if !equalF(x, refX) || !slices.Equal(y, refY) {
					t.Fatalf("workers %d prefetch %d: batches differ from 1 worker", wp[0], wp[1])
				}
			}
		})
	}
}

func TestLoaderEval(t *testing.T) {
	ds, err := Open("cifar10", "train", "testdata/cifar10-bin", Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderConfig{Batch: 4, Eval: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := collect(t, l, 0)
	ref, _ := allExamples(t, ds)
	if !equalF(x, ref) {
		t.Error("Eval loader differs from Example with a nil rng")
	}
}

// Next reuses b's slices: no allocation per batch in steady state.
func TestLoaderNoAllocs(t *testing.T) {
	ds, err := MNIST("testdata/mnist", "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderConfig{Batch: 1, Shuffle: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(0)
	defer it.Close()
	var b Batch
	it.Next(&b)
	x0 := &b.X[0]
	allocs := testing.AllocsPerRun(50, func() {
		if !it.Next(&b) {
			t.Fatal("epoch ended early")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
	if &b.X[0] != x0 {
		t.Error("Next replaced b.X instead of reusing it")
	}
}

func TestLoaderCloseEarly(t *testing.T) {
	ds, err := Open("imagenette", "train", "testdata/imagenette", Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderConfig{Batch: 2, Workers: 3, Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for range 5 {
		it := l.Epoch(0)
		var b Batch
		it.Next(&b)
		it.Close()
		it.Close()
		if it.Next(&b) {
			t.Fatal("Next after Close returned a batch")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
