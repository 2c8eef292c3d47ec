package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// The kinds of identity inputs; a kind byte opens every hashed input, so a
// stream id and a snapshot id can never be computed from the same bytes.
const (
	idKindStream   byte = 'E'
	idKindSnapshot byte = 'S'
)

// EventID returns the id of the event at pos of the stream from source (a
// capture.Source URI): the same source and position always give the same id,
// across restarts and replays, and different ones give different ids.
//
// The id is a UUID string (RFC 9562 version 8, "custom"): the first 128 bits
// of the SHA-256 of an unambiguous encoding of the inputs (a kind byte, then
// every field length-prefixed), with the version and variant bits set, e.g.
// "3f1c2a4e-9b0d-8c77-a1e2-5d6f7a8b9c0d". 122 bits of the hash remain, so
// accidental collisions are out of reach for any realistic event count.
func EventID(source string, pos Position) string {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(source)+len(pos))
	b = append(b, idKindStream)
	b = appendField(b, source)
	b = appendField(b, string(pos))
	return hashID(b)
}

// SnapshotEventID returns the id of the state event of one snapshot row: a
// hash of the source, the snapshot epoch, the table (as the mapping names it)
// and the row's primary key, given as the canonical text of each key column in
// key order (the mapping uses each value's JSON text). Re-reading the same row
// in the same epoch gives the same id; another epoch, table or key gives
// another. The form is that of EventID. The encoding is injective: each key
// column is length-prefixed and the column count is part of it, so ("ab", "c")
// and ("a", "bc") differ.
func SnapshotEventID(source string, epoch uint64, table string, key ...string) string {
	return hashID(snapshotIDInput(source, epoch, table, key))
}

// snapshotIDInput is the canonical encoding SnapshotEventID hashes.
func snapshotIDInput(source string, epoch uint64, table string, key []string) []byte {
	n := 1 + 8 + 3*binary.MaxVarintLen64 + len(source) + len(table)
	for _, k := range key {
		n += binary.MaxVarintLen64 + len(k)
	}
	b := make([]byte, 0, n)
	b = append(b, idKindSnapshot)
	b = appendField(b, source)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = appendField(b, table)
	b = binary.AppendUvarint(b, uint64(len(key)))
	for _, k := range key {
		b = appendField(b, k)
	}
	return b
}

// appendField appends s to b, prefixed with its length.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// hashID returns the UUIDv8 string of the SHA-256 of input.
func hashID(input []byte) string {
	sum := sha256.Sum256(input)
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:16])
	return string(s[:])
}
