package layers

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/lowbit/lowbit/internal/gemm"
	"github.com/lowbit/lowbit/internal/graphop"
)

// The linear kernels compute y[M][O] = A[M][K]·Wᵀ + b, where A is the input
// itself (dense: M = batch, K = features) or its im2col matrix (conv: M = N·OH·OW,
// K = KH·KW·C). Backward: dA = g·W, dW = gᵀ·A, db = Σ_rows g.

func linearForward(y, a, w, b []float32, m, k, o int) error {
	if err := gemm.Sgemm(false, true, m, o, k, 1, a, k, w, k, 0, y, o); err != nil {
		return err
	}
	addBias(y, b, m, o)
	return nil
}

// addBias adds b (nil: nothing) to each of y's m rows of o.
func addBias(y, b []float32, m, o int) {
	if b == nil {
		return
	}
	for r := 0; r < m; r++ {
		row := y[r*o : (r+1)*o]
		for j := range row {
			row[j] += b[j]
		}
	}
}

func linearGradA(da, g, w []float32, m, k, o int) error {
	return gemm.Sgemm(false, false, m, k, o, 1, g, o, w, k, 0, da, k)
}

func linearGradW(dw, g, a []float32, m, k, o int) error {
	return gemm.Sgemm(true, false, o, k, m, 1, g, o, a, k, 0, dw, k)
}

func sumRows(db, g []float32, m, o int) {
	clear(db)
	for r := 0; r < m; r++ {
		row := g[r*o : (r+1)*o]
		for j, v := range row {
			db[j] += v
		}
	}
}

// denseKernel: in = (x [N,...], w [O,K][, b [O]]) → y [N,O]; x is flattened per sample.
type denseKernel struct {
	name    string
	hasBias bool
}

func (k *denseKernel) String() string { return k.name }

func (k *denseKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	x, w := in[0], in[1]
	if len(x) < 2 || len(w) != 2 || prod(x[1:]) != w[1] {
		return nil, shapeErr(k.name, "input %v does not match weights %v", x, w)
	}
	if k.hasBias && (len(in) != 3 || in[2].TotalSize() != w[0]) {
		return nil, shapeErr(k.name, "bias does not match weights %v", w)
	}
	return tensor.Shape{x[0], w[0]}, nil
}

func (k *denseKernel) dims(in []graphop.Tensor) (m, kk, o int) {
	return in[0].Shape[0], in[1].Shape[1], in[1].Shape[0]
}

func (k *denseKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	m, kk, o := k.dims(in)
	var b []float32
	if k.hasBias {
		b = in[2].Data
	}
	return linearForward(out.Data, in[0].Data, in[1].Data, b, m, kk, o)
}

func (k *denseKernel) DiffWRT(int) bool { return true }

func (k *denseKernel) Backward(wrt int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	m, kk, o := k.dims(in)
	switch wrt {
	case 0:
		return linearGradA(d.Data, g.Data, in[1].Data, m, kk, o)
	case 1:
		return linearGradW(d.Data, g.Data, in[0].Data, m, kk, o)
	case 2:
		sumRows(d.Data, g.Data, m, o)
		return nil
	}
	return fmt.Errorf("layers: %s: no input %d", k.name, wrt)
}

// convKernel: in = (x [N,H,W,C], w [O,KH,KW,C][, b [O]]) → y [N,OH,OW,O].
// It runs as implicit GEMMs (gemm.ConvForward and friends): no im2col
// matrix is built or kept between Forward and Backward.
type convKernel struct {
	name             string
	strideH, strideW int
	padH, padW       int
	hasBias          bool
}

func (k *convKernel) String() string { return k.name }

func (k *convKernel) shape(x, w tensor.Shape) (gemm.ConvShape, error) {
	if len(x) != 4 || len(w) != 4 || x[3] != w[3] {
		return gemm.ConvShape{}, shapeErr(k.name, "input %v (NHWC) does not match weights %v (OHWI)", x, w)
	}
	s := gemm.ConvShape{N: x[0], H: x[1], W: x[2], C: x[3], KH: w[1], KW: w[2], StrideH: k.strideH, StrideW: k.strideW, PadH: k.padH, PadW: k.padW}
	if err := s.Validate(); err != nil {
		return s, shapeErr(k.name, "%v", err)
	}
	return s, nil
}

func (k *convKernel) OutShape(in []tensor.Shape) (tensor.Shape, error) {
	s, err := k.shape(in[0], in[1])
	if err != nil {
		return nil, err
	}
	if k.hasBias && (len(in) != 3 || in[2].TotalSize() != in[1][0]) {
		return nil, shapeErr(k.name, "bias does not match weights %v", in[1])
	}
	return tensor.Shape{s.N, s.OutH(), s.OutW(), in[1][0]}, nil
}

// pointwise reports a 1×1, stride-1, unpadded conv, whose im2col is the input itself.
func (k *convKernel) pointwise(s gemm.ConvShape) bool {
	return s.KH == 1 && s.KW == 1 && s.StrideH == 1 && s.StrideW == 1 && s.PadH == 0 && s.PadW == 0
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func (k *convKernel) Forward(out graphop.Tensor, in []graphop.Tensor) error {
	s, err := k.shape(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	m, kk, o := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C, in[1].Shape[0]
	var b []float32
	if k.hasBias {
		b = in[2].Data
	}
	if k.pointwise(s) {
		return linearForward(out.Data, in[0].Data, in[1].Data, b, m, kk, o)
	}
	if err := gemm.ConvForward(s, in[0].Data, in[1].Data, o, out.Data); err != nil {
		return err
	}
	addBias(out.Data, b, m, o)
	return nil
}

func (k *convKernel) DiffWRT(int) bool { return true }

func (k *convKernel) Backward(wrt int, d graphop.Tensor, in []graphop.Tensor, _, g graphop.Tensor) error {
	s, err := k.shape(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	m, kk, o := s.N*s.OutH()*s.OutW(), s.KH*s.KW*s.C, in[1].Shape[0]
	switch wrt {
	case 0:
		if k.pointwise(s) {
			return linearGradA(d.Data, g.Data, in[1].Data, m, kk, o)
		}
		return gemm.ConvGradInput(s, g.Data, in[1].Data, o, d.Data)
	case 1:
		if k.pointwise(s) {
			return linearGradW(d.Data, g.Data, in[0].Data, m, kk, o)
		}
		return gemm.ConvGradWeights(s, g.Data, in[0].Data, o, d.Data)
	case 2:
		sumRows(d.Data, g.Data, m, o)
		return nil
	}
	return fmt.Errorf("layers: %s: no input %d", k.name, wrt)
}
