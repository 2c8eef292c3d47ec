package pipeline

import (
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
)

// Position orders events: the commit LSN of the source transaction, the index of
// the change in it and the ordinal of the event among those the change produced,
// as fixed-width upper-case hex ("%016X-%08X-%04X"), so that positions compare
// correctly as strings. It is the CloudEvents sequence of the event and an input
// of its id. The zero Position ("") sorts before every valid one.
type Position string

// positionLen is the length of every valid Position.
const positionLen = 16 + 1 + 8 + 1 + 4

// MakePosition returns the Position of the ordinal-th event of the index-th change
// of the transaction that commits at lsn.
func MakePosition(lsn capture.LSN, index uint32, ordinal uint16) Position {
	const hex = "0123456789ABCDEF"
	var b [positionLen]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[lsn&0xf]
		lsn >>= 4
	}
	b[16] = '-'
	for i := 24; i >= 17; i-- {
		b[i] = hex[index&0xf]
		index >>= 4
	}
	b[25] = '-'
	for i := 29; i >= 26; i-- {
		b[i] = hex[ordinal&0xf]
		ordinal >>= 4
	}
	return Position(b[:])
}

// SnapshotPosition returns the Position of the ordinal-th event of a snapshot
// row: its LSN is the slot's consistent point - 1 (the snapshot rows' FinalLSN)
// and its index the row's counter in the snapshot epoch. It has the same format
// as MakePosition, so snapshot events sort after every stream position before
// the consistent point and before every later one.
func SnapshotPosition(consistentPointMinus1 capture.LSN, rowCounter uint32, ordinal uint16) Position {
	return MakePosition(consistentPointMinus1, rowCounter, ordinal)
}

// ParsePosition parses a Position as MakePosition writes it. It accepts only
// that exact form (upper-case hex digits of the fixed widths), so that every
// position it accepts sorts correctly as a string.
func ParsePosition(s string) (lsn capture.LSN, index uint32, ordinal uint16, err error) {
	if len(s) != positionLen || s[16] != '-' || s[25] != '-' {
		return 0, 0, 0, fmt.Errorf("parse position %q: want %%016X-%%08X-%%04X", s)
	}
	l, ok1 := parseHex(s[:16])
	x, ok2 := parseHex(s[17:25])
	o, ok3 := parseHex(s[26:])
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("parse position %q: want upper-case hexadecimal digits", s)
	}
	return capture.LSN(l), uint32(x), uint16(o), nil
}

// parseHex reads upper-case hexadecimal digits (at most 16).
func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d := hexDigit[s[i]]
		if d > 0xf {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// hexDigit maps '0'-'9' and 'A'-'F' to their values, every other byte to 0xff.
var hexDigit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c-'A') + 10
	}
	return t
}()

// Less reports whether p comes before q. For valid positions this is string
// order, which is the order of (LSN, index, ordinal).
func (p Position) Less(q Position) bool { return p < q }
