package optim

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// paramState is the saved state of one parameter: a step counter and the
// optimizer's per-element buffers (momentum, moments). A nil slot has not
// been created yet.
type paramState struct {
	step  uint64
	slots [][]float32
}

// stateTable maps parameter names to their state.
type stateTable map[string]*paramState

// get returns the state for name, creating it with n nil slots.
func (t *stateTable) get(name string, n int) *paramState {
	if *t == nil {
		*t = make(stateTable)
	}
	s := (*t)[name]
	if s == nil {
		s = &paramState{slots: make([][]float32, n)}
		(*t)[name] = s
	}
	return s
}

// checkShapes reports saved slots whose length differs from the parameter
// they belong to (possible after SetState with another model's state).
func (t stateTable) checkShapes(opt string, params []*Param) error {
	for _, p := range params {
		s := t[p.Name]
		if s == nil {
			continue
		}
		for k, sl := range s.slots {
			if sl != nil && len(sl) != len(p.Data) {
				return fmt.Errorf("optim: %s: param %q: saved slot %d has %d values, param has %d: %w",
					opt, p.Name, k, len(sl), len(p.Data), ErrShape)
			}
		}
	}
	return nil
}

// State layout, little-endian, all counts as unsigned varints:
//
//	"LBOS" version(1 byte = 1)
//	len(name) name
//	nparams, then per parameter in name order:
//	    len(name) name  step  nslots  (nvalues  nvalues×float32 bits)…
//	len(extra) extra          (a wrapped optimizer's state, for Bop)
//	crc32-IEEE of everything above (4 bytes)
//
// A slot of zero values decodes as nil: it has not been created yet.
const (
	stateMagic   = "LBOS"
	stateVersion = 1
)

func encodeState(opt string, t stateTable, extra []byte) []byte {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)

	b := append([]byte(stateMagic), stateVersion)
	b = appendString(b, opt)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		s := t[name]
		b = appendString(b, name)
		b = binary.AppendUvarint(b, s.step)
		b = binary.AppendUvarint(b, uint64(len(s.slots)))
		for _, sl := range s.slots {
			b = binary.AppendUvarint(b, uint64(len(sl)))
			for _, v := range sl {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(extra)))
	b = append(b, extra...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// stateReader decodes with bounds checks; the first failure sticks.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", what, ErrState)
	}
}

func (r *stateReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that take at least size bytes each, so a
// corrupt count cannot trigger a huge allocation.
func (r *stateReader) count(what string, size int) int {
	v := r.uvarint(what)
	if r.err == nil && v > uint64(len(r.b)/size) {
		r.fail(what + " exceeds the data")
		return 0
	}
	return int(v)
}

func (r *stateReader) bytes(what string) []byte {
	n := r.count(what+" length", 1)
	if r.err != nil {
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func decodeState(opt string, b []byte) (stateTable, []byte, error) {
	wrap := func(err error) error { return fmt.Errorf("optim: %s: SetState: %w", opt, err) }
	if len(b) < len(stateMagic)+1+4 {
		return nil, nil, wrap(fmt.Errorf("%d bytes is too short: %w", len(b), ErrState))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if string(body[:len(stateMagic)]) != stateMagic {
		return nil, nil, wrap(fmt.Errorf("bad magic: %w", ErrState))
	}
	if v := body[len(stateMagic)]; v != stateVersion {
		return nil, nil, wrap(fmt.Errorf("version %d, want %d: %w", v, stateVersion, ErrState))
	}
	if crc32.ChecksumIEEE(body) != sum {
		return nil, nil, wrap(fmt.Errorf("checksum mismatch: %w", ErrState))
	}
	r := &stateReader{b: body[len(stateMagic)+1:]}
	if got := string(r.bytes("optimizer name")); r.err == nil && got != opt {
		return nil, nil, wrap(fmt.Errorf("state was saved by %q: %w", got, ErrState))
	}
	n := r.count("param count", 3)
	t := make(stateTable, n)
	for i := 0; i < n && r.err == nil; i++ {
		name := string(r.bytes("param name"))
		s := &paramState{step: r.uvarint("step")}
		s.slots = make([][]float32, r.count("slot count", 1))
		for k := range s.slots {
			m := r.count("slot length", 4)
			if r.err != nil {
				break
			}
			if m > 0 {
				sl := make([]float32, m)
				for j := range sl {
					sl[j] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*j:]))
				}
				s.slots[k] = sl
				r.b = r.b[4*m:]
			}
		}
		if _, dup := t[name]; dup && r.err == nil {
			r.fail(fmt.Sprintf("param %q saved twice", name))
		}
		t[name] = s
	}
	extra := r.bytes("wrapped state")
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return nil, nil, wrap(r.err)
	}
	return t, extra, nil
}

// checkSlots reports saved state with a slot count other than want.
func (t stateTable) checkSlots(opt string, want int) error {
	for name, s := range t {
		if len(s.slots) != want {
			return fmt.Errorf("optim: %s: SetState: param %q has %d slots, want %d: %w",
				opt, name, len(s.slots), want, ErrState)
		}
	}
	return nil
}
