package ste

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/lowbit/lowbit/internal/parallel"
)

// KMeans is k-means weight sharing (Deep Compression, Han et al. 2016,
// https://arxiv.org/abs/1510.00149) with k = 2^bits learnable centroids c per layer:
//
//	q(W_i)     = c[a(i)],  a(i) = argmin_k |W_i − c_k|   (ties go to the lower index k)
//	∂L/∂W_i    = g_i                                     (identity STE on the latent weights)
//	∂L/∂c_k    = Σ_{i: a(i)=k} g_i                       (the paper's shared-weight gradient)
//
// The centroids start linearly spaced over [min W, max W] (the paper's best initialisation);
// on inputs, where no initial data exists, from the first tensor that passes through.
// Call Recluster between epochs to re-run Lloyd's algorithm on the current latent weights.
type KMeans struct {
	Bits int `q:"bits,default=4,min=1,max=16,show"` // bit width: 2^Bits centroids
}

func (KMeans) Name() string       { return "kmeans" }
func (k KMeans) String() string   { return Format(k) }
func (k KMeans) BitsFor(Role) int { r, _ := Resolve(k); return r.Bits }
func (KMeans) Symmetric() bool    { return false } // the centroids follow the data
func (KMeans) DataInit() bool     { return true }

func (k KMeans) Build(t Target) (Func, error) {
	k, err := Resolve(k)
	if err != nil {
		return nil, err
	}
	if err := checkShape("kmeans", t); err != nil {
		return nil, err
	}
	f := &kmeansFunc{init: make([]float32, 1<<k.Bits), lazy: t.Init == nil}
	if t.Init != nil {
		if err := linearCentroids(f.init, t.Init); err != nil {
			return nil, err
		}
	}
	return f, nil
}

type kmeansFunc struct {
	init []float32 // initial centroids
	lazy bool      // set the centroids from the first tensor seen (no Target.Init)
}

func (f *kmeansFunc) Params() []Param {
	return []Param{{Name: "centroids", Data: append([]float32(nil), f.init...)}}
}

// linearCentroids sets c_k = min + k·(max−min)/(len(c)−1).
func linearCentroids(c, w []float32) error {
	if len(w) == 0 {
		return fmt.Errorf("ste: kmeans: no weights to place the centroids")
	}
	lo, hi := w[0], w[0]
	for _, v := range w {
		lo, hi = min(lo, v), max(hi, v)
	}
	if math.IsNaN(float64(lo)) || math.IsNaN(float64(hi)) || math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) {
		return fmt.Errorf("%w: kmeans: weights range over [%g, %g]", ErrParam, lo, hi)
	}
	if len(c) == 1 {
		c[0] = (lo + hi) / 2
		return nil
	}
	step := (float64(hi) - float64(lo)) / float64(len(c)-1)
	for i := range c {
		c[i] = float32(float64(lo) + float64(i)*step)
	}
	c[len(c)-1] = hi
	return nil
}

// centroids returns the validated centroid parameter, first filling it from x when lazy.
func (f *kmeansFunc) centroids(x []float32, p [][]float32) ([]float32, error) {
	if len(p) != 1 || len(p[0]) != len(f.init) {
		return nil, fmt.Errorf("ste: kmeans: want one parameter of %d centroids", len(f.init))
	}
	c := p[0]
	if f.lazy && allZero(c) {
		if err := linearCentroids(c, x); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// nearest finds the nearest centroid: a bucket table over the sorted distinct
// values narrows the search to the values that share x's bucket, usually none
// or one, then exact float64 distances decide (ties to the lower index).
//
// The bucket of v is b(v) = clamp(floor((v−v0)·scale), 0, B−1), a monotone
// function of v: a value in a lower bucket than x is below x and one in a
// higher bucket above it, so only the values in x's bucket need comparing.
type nearest struct {
	vals  []float64 // distinct centroid values, ascending
	idx   []int     // lowest centroid index holding vals[j]
	order []int     // scratch of reset
	// first[k] is the first j with b(vals[j]) ≥ k, for k in [0, B]; first[B] = len(vals).
	first     []int32
	v0, scale float64
	// thr[j] is the orderKey of the least float32 whose position (the
	// index into vals that find settles on) exceeds j, for j < len(vals)−1;
	// the rest up to len(thr) = 2^⌈log2 len(vals)⌉−1 are noKey, above every
	// weight's key. A weight's position is then the count of thresholds ≤
	// its key, found by a branch-free binary search (see pos).
	thr  []int
	pick []uint16 // pick[j] = idx[j] for the positions
}

// bucketsPer is the number of buckets per distinct value.
const bucketsPer = 8

func newNearest(c []float32) (nearest, error) {
	var n nearest
	return n, n.reset(c)
}

// reset rebuilds n for centroids c, reusing its memory.
func (n *nearest) reset(c []float32) error {
	if len(c) == 0 {
		return fmt.Errorf("%w: kmeans: no centroids", ErrParam)
	}
	for i, v := range c {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: kmeans: centroid %d is %g", ErrParam, i, v)
		}
	}
	n.order = n.order[:0]
	for i := range c {
		n.order = append(n.order, i)
	}
	slices.SortStableFunc(n.order, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
	n.vals, n.idx = n.vals[:0], n.idx[:0]
	for _, i := range n.order {
		v := float64(c[i])
		if k := len(n.vals); k > 0 && n.vals[k-1] == v {
			continue // stable sort: the first of equal values has the lowest index
		}
		n.vals = append(n.vals, v)
		n.idx = append(n.idx, i)
	}
	nb := bucketsPer * len(n.vals)
	n.v0 = n.vals[0]
	n.scale = float64(nb) / (n.vals[len(n.vals)-1] - n.v0) // +Inf for one value: b is then 0 or B−1
	n.first = slices.Grow(n.first[:0], nb+1)[:nb+1]
	j := 0
	for k := range n.first {
		for j < len(n.vals) && n.bucket(n.vals[j]) < k {
			j++
		}
		n.first[k] = int32(j)
	}
	n.thresholds()
	return nil
}

// thresholds fills thr and pick by bisection over the float32 values in
// their order, with find's own search (position) as the judge: a weight's
// position never decreases as the weight grows (the neighbours found move
// up, and between two neighbours the left one wins up to a point), so
// pos(x) = position(x) for every float32 x.
//
// Above maxThresholdValues distinct values the bisections (32 searches per
// threshold) could outweigh a layer's weights; thr is then left empty and
// assign searches each weight with find.
func (n *nearest) thresholds() {
	n.thr, n.pick = n.thr[:0], n.pick[:0]
	if len(n.vals) > maxThresholdValues {
		return
	}
	size := 1
	for size < len(n.vals) {
		size *= 2
	}
	n.thr = slices.Grow(n.thr[:0], size-1)[:size-1]
	n.pick = slices.Grow(n.pick[:0], size)[:size]
	for j := range n.thr {
		n.thr[j] = noKey
		if j >= len(n.vals)-1 {
			continue
		}
		lo, hi := orderKey(float32(math.Inf(-1))), orderKey(float32(math.Inf(1)))
		for lo < hi { // the least key whose position exceeds j; +Inf's is len(vals)−1
			mid := lo + (hi-lo)/2
			if n.position(keyValue(mid)) > j {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		n.thr[j] = lo
	}
	for j := range n.pick {
		n.pick[j] = uint16(n.idx[min(j, len(n.idx)-1)])
	}
}

// maxThresholdValues is the most distinct centroid values searched by thresholds.
const maxThresholdValues = 16

// noKey pads thr: above every orderKey.
const noKey = 1 << 32

// orderKey maps the float32 values from −Inf to +Inf to integers in the same
// order, −0 just below +0, without a branch or a float comparison (the
// searches below stay free of flag-to-register dependencies). A NaN maps
// below −Inf's key, so its position is 0, as in position.
func orderKey(x float32) int {
	b := math.Float32bits(x)
	k := int(b ^ (uint32(int32(b)>>31) | 1<<31))
	const inf = 0xff800000        // orderKey(+Inf)
	return k &^ ((inf - k) >> 63) // a positive NaN's key is above +Inf's: 0
}

// keyValue is orderKey's inverse on [orderKey(−Inf), orderKey(+Inf)].
func keyValue(k int) float32 {
	if k>>31 != 0 {
		return math.Float32frombits(uint32(k) &^ (1 << 31))
	}
	return math.Float32frombits(^uint32(k))
}

// pos is position(x) from the thresholds: the number of them ≤ x's key,
// by a branch-free binary search over thr.
func (n *nearest) pos(x float32) int {
	thr, k := n.thr, orderKey(x)
	p := 0
	for s := (len(thr) + 1) / 2; s > 0; s /= 2 {
		p += s &^ ((k - thr[p+s-1]) >> 63)
	}
	return p
}

// assign sets a[i] to w[i]'s nearest centroid (as find) and y[i] to its value in c.
func (n *nearest) assign(a []uint16, y, w, c []float32) {
	a, y = a[:len(w)], y[:len(w)]
	switch len(n.thr) {
	case 3:
		n.assign4(a, y, w, c)
	case 15:
		n.assign16(a, y, w, c)
	case 0:
		if len(n.vals) > maxThresholdValues {
			for i, x := range w {
				k := n.find(x)
				a[i] = uint16(k)
				y[i] = c[k]
			}
			return
		}
		fallthrough // one value: position 0
	default:
		for i, x := range w {
			k := n.pick[n.pos(x)]
			a[i] = k
			y[i] = c[k]
		}
	}
}

// assign4 is assign for 3 thresholds (2-bit k-means), the search unrolled.
func (n *nearest) assign4(a []uint16, y, w, c []float32) {
	var t [4]int
	var pick [4]uint16
	copy(t[:], n.thr)
	copy(pick[:], n.pick)
	a, y = a[:len(w)], y[:len(w)]
	for i, x := range w {
		k := orderKey(x)
		p := 2 &^ ((k - t[1]) >> 63)
		p += 1 &^ ((k - t[p&3]) >> 63)
		ci := pick[p&3]
		a[i] = ci
		y[i] = c[ci]
	}
}

// assign16 is assign for 15 thresholds (4-bit k-means), the search unrolled.
func (n *nearest) assign16(a []uint16, y, w, c []float32) {
	var t [16]int
	var pick [16]uint16
	copy(t[:], n.thr)
	copy(pick[:], n.pick)
	a, y = a[:len(w)], y[:len(w)]
	for i, x := range w {
		// Two levels of three independent comparisons: the group of four
		// positions, then the position within it.
		k := orderKey(x)
		p := 4 * (3 + (k-t[3])>>63 + (k-t[7])>>63 + (k-t[11])>>63)
		p &= 15
		p += 3 + (k-t[p])>>63 + (k-t[p+1])>>63 + (k-t[p+2])>>63
		ci := pick[p&15]
		a[i] = ci
		y[i] = c[ci]
	}
}

// bucket is b(v); a NaN v goes to bucket 0.
func (n *nearest) bucket(v float64) int {
	t := (v - n.v0) * n.scale
	if !(t > 0) {
		return 0
	}
	return int(min(t, float64(len(n.first)-2)))
}

// find returns argmin_k |x − c_k|, ties to the lower index. Distances are exact in float64.
// The choice between the two neighbours is branch-free: weights fall on random
// sides of the centroids, so branches would mispredict.
func (n *nearest) find(x float32) int { return n.idx[n.position(x)] }

// position is the index into vals of find's answer.
func (n *nearest) position(x float32) int {
	v := float64(x)
	vals := n.vals
	// lo = the first j with vals[j] ≥ v (len(vals) if none); a NaN v gives 0.
	k := n.bucket(v)
	lo := int(n.first[k])
	for j := lo; j < int(n.first[k+1]); j++ {
		lo += b2i(vals[j] < v)
	}
	l, r := max(lo-1, 0), min(lo, len(vals)-1) // equal at either end
	dl, dr := v-vals[l], vals[r]-v
	left := b2i(dl < dr) | b2i(dl == dr)&b2i(n.idx[l] < n.idx[r])
	return r + (l-r)&-left
}

// kmeansState is the memory of one k-means graph node (Ctx.State): the
// nearest-centroid search and each weight's centroid from the forward pass
// (weights src at centroids c), which the centroid gradient of that pass
// reuses instead of searching again, and its sums.
type kmeansState struct {
	nn     nearest
	assign []uint16
	c      []float32
	src    *float32
	ok     bool
	sum    []float64
}

// NewState returns the memory of one graph node.
func (f *kmeansFunc) NewState() any { return &kmeansState{} }

func (f *kmeansFunc) Forward(y, w []float32, p [][]float32, c Ctx) error {
	if err := checkLenOf("kmeans", y, w); err != nil {
		return err
	}
	cs, err := f.centroids(w, p)
	if err != nil {
		return err
	}
	st, _ := c.State.(*kmeansState)
	if st == nil {
		st = &kmeansState{}
	}
	st.ok = false
	if err := st.nn.reset(cs); err != nil {
		return err
	}
	if cap(st.assign) < len(w) {
		st.assign = make([]uint16, len(w))
	}
	a := st.assign[:len(w)]
	parallel.Rows(len(w), 1, func(_, lo, hi int) { st.nn.assign(a[lo:hi], y[lo:hi], w[lo:hi], cs) })
	st.assign, st.c, st.src, st.ok = a, append(st.c[:0], cs...), unsafe.SliceData(w), true
	return nil
}

func (f *kmeansFunc) Grad(wrt int, dst, g, w, _ []float32, p [][]float32, ctx Ctx) error {
	switch wrt {
	case 0:
		if err := checkGradLen("kmeans", dst, g, w); err != nil {
			return err
		}
		copy(dst, g)
	case 1:
		c, err := f.centroids(w, p)
		if err != nil {
			return err
		}
		if len(dst) != len(c) || len(g) != len(w) {
			return fmt.Errorf("ste: kmeans: gradient lengths dst %d (want %d), upstream %d, input %d", len(dst), len(c), len(g), len(w))
		}
		st, _ := ctx.State.(*kmeansState)
		if st == nil || !st.ok || st.src != unsafe.SliceData(w) || len(st.assign) != len(w) || !slices.Equal(st.c, c) {
			st = &kmeansState{} // not this node's last forward pass: search again
			if err := st.nn.reset(c); err != nil {
				return err
			}
			st.assign = make([]uint16, len(w))
			for i, v := range w {
				st.assign[i] = uint16(st.nn.find(v))
			}
		}
		if cap(st.sum) < len(c) {
			st.sum = make([]float64, len(c))
		}
		sum := st.sum[:len(c)]
		clear(sum)
		for i, k := range st.assign {
			sum[k] += float64(g[i])
		}
		for k, s := range sum {
			dst[k] = float32(s)
		}
	default:
		return errWRT("kmeans", wrt)
	}
	return nil
}

// reclusterIters bounds the Lloyd iterations of one Recluster call.
const reclusterIters = 10

// Recluster runs Lloyd's algorithm on the weights w, updating the centroids c in place:
// assign each weight to its nearest centroid (ties to the lower index), move each centroid
// to the mean of its weights, and repeat until no assignment changes, at most 10 times.
// A centroid with no weights keeps its value. A recipe may call it between epochs with a
// layer's latent weights and its "centroids" parameter.
func Recluster(w, c []float32) error {
	if len(w) == 0 {
		return fmt.Errorf("ste: kmeans: recluster: no weights")
	}
	assign := make([]int, len(w))
	for i := range assign {
		assign[i] = -1
	}
	sum := make([]float64, len(c))
	cnt := make([]int, len(c))
	for range reclusterIters {
		nn, err := newNearest(c)
		if err != nil {
			return fmt.Errorf("ste: kmeans: recluster: %w", err)
		}
		changed := false
		clear(sum)
		clear(cnt)
		for i, v := range w {
			k := nn.find(v)
			if k != assign[i] {
				assign[i], changed = k, true
			}
			sum[k] += float64(v)
			cnt[k]++
		}
		if !changed {
			return nil
		}
		for k := range c {
			if cnt[k] > 0 {
				c[k] = float32(sum[k] / float64(cnt[k]))
			}
		}
	}
	return nil
}

func init() {
	Register(KMeans{}, "weight sharing: nearest of 2^bits learnable centroids, identity STE on W, summed gradients on centroids (Deep Compression)")
}
