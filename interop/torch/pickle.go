package torch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Argument kinds of the pickle opcodes (protocols 0-5, CPython's Lib/pickle.py).
const (
	argNone  = iota
	argFixed // n bytes
	argLen   // an n-byte little-endian length, then that many bytes
	argLines // n newline-terminated lines
)

type opArg struct{ kind, n int }

var pickleOps = func() map[byte]opArg {
	ops := map[byte]opArg{}
	for _, c := range []byte("(.012NRabd}el]ost)uQ\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98") {
		ops[c] = opArg{argNone, 0}
	}
	for c, n := range map[byte]int{'K': 1, 'h': 1, 'q': 1, 0x80: 1, 0x82: 1, 'M': 2, 0x83: 2, 'J': 4, 'j': 4, 'r': 4, 0x84: 4, 'G': 8, 0x95: 8} {
		ops[c] = opArg{argFixed, n}
	}
	for c, n := range map[byte]int{'U': 1, 'C': 1, 0x8c: 1, 0x8a: 1, 'T': 4, 'B': 4, 'X': 4, 0x8b: 4, 0x8d: 8, 0x8e: 8, 0x96: 8} {
		ops[c] = opArg{argLen, n}
	}
	for _, c := range []byte("ILSVFpgP") {
		ops[c] = opArg{argLines, 1}
	}
	ops['c'], ops['i'] = opArg{argLines, 2}, opArg{argLines, 2}
	return ops
}()

// scanPickle walks the opcodes of a pickle up to STOP and checks that every
// argument, and every length an argument declares, lies inside b. The unpickler
// allocates what such a length says before reading it; after this scan no length
// exceeds the (capped) pickle itself.
func scanPickle(b []byte) error {
	for i := 0; i < len(b); {
		op := b[i]
		arg, ok := pickleOps[op]
		if !ok {
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, i)
		}
		i++
		rest := len(b) - i
		switch arg.kind {
		case argFixed:
			if arg.n > rest {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d is truncated", op, i-1)
			}
			if op == 0x95 && binary.LittleEndian.Uint64(b[i:]) > uint64(rest-arg.n) { // FRAME: the frame is read whole
				return fmt.Errorf("pickle: frame at byte %d is longer than the pickle", i-1)
			}
			i += arg.n
		case argLen:
			if arg.n > rest {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d is truncated", op, i-1)
			}
			var n uint64
			switch arg.n {
			case 1:
				n = uint64(b[i])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(b[i:]))
			default:
				n = binary.LittleEndian.Uint64(b[i:])
			}
			if n > math.MaxInt32 || int(n) > rest-arg.n {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d declares %d bytes, %d remain", op, i-1, n, rest-arg.n)
			}
			i += arg.n + int(n)
		case argLines:
			for range arg.n {
				j := i
				for j < len(b) && b[j] != '\n' {
					j++
				}
				if j == len(b) {
					return fmt.Errorf("pickle: opcode 0x%02x at byte %d has no line end", op, i-1)
				}
				i = j + 1
			}
		}
		if op == '.' {
			return nil
		}
	}
	return fmt.Errorf("pickle: no STOP opcode")
}
