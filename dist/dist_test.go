package dist

import (
	"errors"
	"sync"
	"testing"
)

func TestShard(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{10, 1}, {10, 2}, {10, 3}, {2, 4}, {0, 3}, {10000, 7}} {
		next := 0
		for r := range tc.size {
			lo, hi := Shard(tc.n, r, tc.size)
			if lo != next || hi < lo || hi-lo > tc.n/tc.size+1 {
				t.Fatalf("Shard(%d, %d, %d) = [%d,%d), want a start at %d and a fair share", tc.n, r, tc.size, lo, hi, next)
			}
			next = hi
		}
		if next != tc.n {
			t.Fatalf("shards of %d over %d end at %d", tc.n, tc.size, next)
		}
	}
}

// runGroup runs f on every member of an in-process group of n and returns their errors.
func runGroup(t *testing.T, n int, f func(c Comm) error) []error {
	t.Helper()
	comms, err := NewGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() { defer wg.Done(); errs[r] = f(c) }()
	}
	wg.Wait()
	return errs
}

func TestAllReduceMean(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		size := BucketValues + 5 // two buckets
		got := make([][]float32, n)
		errs := runGroup(t, n, func(c Comm) error {
			buf := make([]float32, size)
			for i := range buf {
				buf[i] = float32(c.Rank() + i%7)
			}
			got[c.Rank()] = buf
			return AllReduceMean(c, buf)
		})
		for r, err := range errs {
			if err != nil {
				t.Fatalf("%d ranks: rank %d: %v", n, r, err)
			}
		}
		for r := range n {
			for _, i := range []int{0, 6, BucketValues + 4} {
				want := float32(n-1)/2 + float32(i%7)
				if got[r][i] != want {
					t.Fatalf("%d ranks: rank %d [%d] = %v, want %v", n, r, i, got[r][i], want)
				}
			}
		}
	}
}

func TestCheckSame(t *testing.T) {
	for _, tc := range []struct {
		name string
		same bool
	}{{"same", true}, {"different", false}} {
		t.Run(tc.name, func(t *testing.T) {
			errs := runGroup(t, 3, func(c Comm) error {
				var fp [32]byte
				if !tc.same && c.Rank() == 2 {
					fp[31] = 1
				}
				return CheckSame(c, fp, "test fingerprint")
			})
			for r, err := range errs {
				if tc.same != (err == nil) || !tc.same && !errors.Is(err, ErrMismatch) {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

func TestLocal(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if Tag == "" && (c.Rank() != 0 || c.Size() != 1 || !Single(c)) {
		t.Fatalf("Open without MPI gave rank %d of %d", c.Rank(), c.Size())
	}
	buf := []float32{1, 2}
	if err := AllReduceMean(Local{}, buf); err != nil || buf[0] != 1 || buf[1] != 2 {
		t.Fatalf("Local mean changed %v (%v)", buf, err)
	}
	if err := (Local{}).BcastF32(1, buf); err == nil {
		t.Fatal("Local broadcast from rank 1 succeeded")
	}
	if _, err := NewGroup(0); err == nil {
		t.Fatal("NewGroup(0) succeeded")
	}
}

// TestGroupMemberLeaves: a member that leaves fails the others' collectives
// instead of leaving them waiting.
func TestGroupMemberLeaves(t *testing.T) {
	errs := runGroup(t, 3, func(c Comm) error {
		if c.Rank() == 1 {
			return c.Close()
		}
		return c.Barrier()
	})
	for _, r := range []int{0, 2} {
		if !errors.Is(errs[r], errLeft) {
			t.Errorf("rank %d: %v, want errLeft", r, errs[r])
		}
	}
}
