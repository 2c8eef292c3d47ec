package pgoutput

import (
	"encoding/binary"
	"time"
)

// This file is a small encoder of pgoutput protocol version 1 messages, written
// from PostgreSQL's src/backend/replication/logical/proto.c, so that tests can
// build the exact bytes a server sends.

type enc []byte

func (e enc) u8(v byte) enc      { return append(e, v) }
func (e enc) u16(v int16) enc    { return binary.BigEndian.AppendUint16(e, uint16(v)) }
func (e enc) u32(v uint32) enc   { return binary.BigEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc   { return binary.BigEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc   { return append(append(e, s...), 0) }
func (e enc) ts(t time.Time) enc { return e.u64(uint64(t.Sub(pgEpoch).Microseconds())) }

func encBegin(finalLSN uint64, commit time.Time, xid uint32) []byte {
	return enc{'B'}.u64(finalLSN).ts(commit).u32(xid)
}

func encCommit(commitLSN, endLSN uint64, commit time.Time) []byte {
	return enc{'C'}.u8(0).u64(commitLSN).u64(endLSN).ts(commit)
}

func encOrigin(lsn uint64, name string) []byte {
	return enc{'O'}.u64(lsn).str(name)
}

// relCol is a column of a Relation message.
type relCol struct {
	key    bool
	name   string
	oid    uint32
	typmod int32
}

func encRelation(oid uint32, schema, table string, ident byte, cols ...relCol) []byte {
	e := enc{'R'}.u32(oid).str(schema).str(table).u8(ident).u16(int16(len(cols)))
	for _, c := range cols {
		var flags byte
		if c.key {
			flags = 1
		}
		e = e.u8(flags).str(c.name).u32(c.oid).u32(uint32(c.typmod))
	}
	return e
}

func encType(oid uint32, schema, name string) []byte {
	return enc{'Y'}.u32(oid).str(schema).str(name)
}

// tv is one column of TupleData: kind 'n', 'u', 't' or 'b', and the bytes of
// 't' and 'b'.
type tv struct {
	kind byte
	data string
}

func txt(s string) tv { return tv{'t', s} }

var (
	null      = tv{kind: 'n'}
	unchanged = tv{kind: 'u'}
)

func (e enc) tuple(cols []tv) enc {
	e = e.u16(int16(len(cols)))
	for _, c := range cols {
		e = e.u8(c.kind)
		if c.kind == 't' || c.kind == 'b' {
			e = e.u32(uint32(len(c.data)))
			e = append(e, c.data...)
		}
	}
	return e
}

func encInsert(rel uint32, cols ...tv) []byte {
	return enc{'I'}.u32(rel).u8('N').tuple(cols)
}

// encUpdate encodes an Update; oldKind is 0 (no old tuple), 'K' or 'O'.
func encUpdate(rel uint32, oldKind byte, old, cols []tv) []byte {
	e := enc{'U'}.u32(rel)
	if oldKind != 0 {
		e = e.u8(oldKind).tuple(old)
	}
	return e.u8('N').tuple(cols)
}

func encDelete(rel uint32, oldKind byte, old ...tv) []byte {
	return enc{'D'}.u32(rel).u8(oldKind).tuple(old)
}

// Truncate option bits, from proto.c.
const (
	truncCascade         = 1
	truncRestartIdentity = 2
)

func encTruncate(flags byte, rels ...uint32) []byte {
	e := enc{'T'}.u32(uint32(len(rels))).u8(flags)
	for _, r := range rels {
		e = e.u32(r)
	}
	return e
}

func encMessage(transactional bool, lsn uint64, prefix, content string) []byte {
	var flags byte
	if transactional {
		flags = 1
	}
	return enc{'M'}.u8(flags).u64(lsn).str(prefix).u32(uint32(len(content))).append(content)
}

func (e enc) append(s string) enc { return append(e, s...) }
