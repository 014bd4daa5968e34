package layers

import (
	"fmt"

	"github.com/lowbit/lowbit/ste"
)

// ReinitQuantizers re-derives the data-dependent quantizer parameters of l and of
// every layer inside it from the current weights, after weights were loaded from
// elsewhere (LSQ's initialisation from a trained full-precision model):
//
//   - each Conv2D/Dense weight quantizer is rebuilt with Target.Init = the current
//     weights, and the new parameter values are copied into the existing parameter
//     tensors (so graphs and optimizers that hold them see the change); for LSQ
//     that is s = 2·mean|w|/√Q_P;
//   - the parameters of each data-initialised input quantizer (Quantizer.DataInit:
//     LSQ's step) are set to 0, so they initialise from the next batch they see.
//
// Call it before building graphs of the model: the rebuilt weight function replaces
// the old one only in graphs built afterwards.
func ReinitQuantizers(l Layer) error {
	var err error
	Walk(l, func(x Layer) {
		if err != nil {
			return
		}
		switch c := x.(type) {
		case *Conv2D:
			err = reinit(c.wq, c.iq, c.name, c.W)
		case *Dense:
			err = reinit(c.wq, c.iq, c.name, c.W)
		}
	})
	return err
}

func reinit(wq, iq *quantizer, name string, w *Param) error {
	if wq != nil {
		fresh, err := buildQuantizer(wq.q, name+".wq", ste.Target{Shape: w.Value.Shape().Clone(), Role: ste.Weights, Init: w.Data()})
		if err != nil {
			return err
		}
		if len(fresh.params) != len(wq.params) {
			return fmt.Errorf("layers: %s.wq: rebuilt quantizer has %d parameters, had %d", name, len(fresh.params), len(wq.params))
		}
		for i, p := range fresh.params {
			dst := wq.params[i].Data()
			if len(dst) != len(p.Data()) {
				return fmt.Errorf("layers: %s: rebuilt %d values, had %d", p.Name, len(p.Data()), len(dst))
			}
			copy(dst, p.Data())
		}
		wq.f = fresh.f
	}
	if iq != nil {
		if iq.q.DataInit() {
			for _, p := range iq.params {
				clear(p.Data())
			}
		}
	}
	return nil
}
