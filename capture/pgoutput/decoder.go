package pgoutput

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgvalue"
)

// Config configures a Decoder. The zero Config is valid: no type lookup and no
// heartbeats.
type Config struct {
	// LookupType resolves the name of a type OID that is neither built in nor
	// named by a Type message earlier in the stream (optional). It is called
	// from Decode, on the decoding goroutine, and must not block for long.
	LookupType func(oid uint32) (name string, ok bool)
	// HeartbeatPrefix is the prefix of the non-transactional logical messages
	// (pg_logical_emit_message) that mark heartbeats, e.g. "cdcflow.heartbeat".
	// Empty means no message is a heartbeat. When a heartbeat's content is an
	// RFC 3339 timestamp, it becomes the Marker's Time.
	HeartbeatPrefix string
	// DeferDecoding hands on the columns of row changes as
	// capture.KindEncoded values, decoded only when read
	// (capture.Value.Decoded), rather than decoded here: a column that no
	// consumer reads costs one copy of its text and no decoding. A value
	// that does not decode is then an error of its reader, not of Decode.
	DeferDecoding bool
}

// Decoder turns pgoutput messages into capture messages. It remembers the
// relations and types announced so far and the transaction in progress. Create
// one per replication session with NewDecoder: pgoutput announces every
// relation again in a new session.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg       Config
	relations map[uint32]*capture.Relation
	types     map[uint32]string // type names announced by Type messages

	inTx  bool
	begin capture.Begin // the transaction in progress when inTx
	index uint32        // the next change's Index

	spans []span // scratch of tuple: the deferred values of the tuple being read
}

// NewDecoder returns a Decoder with an empty relation cache.
func NewDecoder(cfg Config) *Decoder {
	return &Decoder{
		cfg:       cfg,
		relations: make(map[uint32]*capture.Relation),
		types:     make(map[uint32]string),
	}
}

// Decode decodes one pgoutput message, the payload of an XLogData message whose
// WAL start is walStart. It does not retain data.
//
// It returns a *capture.Begin, *capture.Change, *capture.Commit or
// *capture.Marker (a heartbeat), or nil for a message that only updates the
// decoder's state (Relation, Type, Origin) and for a logical message that is not
// a heartbeat. Changes take FinalLSN, XID and CommitTime from the transaction's
// Begin and an Index counting the transaction's changes from 0.
//
// A Relation message replaces the cached relation with a new *capture.Relation
// when anything about it changed (columns added, dropped, renamed or retyped,
// replica identity), and keeps the cached pointer when nothing did, so a
// consumer can compare pointers to detect a new table shape. Relations handed
// out earlier are never modified.
//
// Every error is a *DecodeError. After an error the decoder's state is
// unspecified: the caller must drop the session and start a new Decoder.
func (d *Decoder) Decode(walStart capture.LSN, data []byte) (capture.Message, error) {
	if len(data) == 0 {
		return nil, &DecodeError{LSN: walStart, Err: errors.New("empty message")}
	}
	r := &reader{b: data, off: 1}
	msg := d.decode(data[0], r)
	r.end()
	if r.err != nil {
		return nil, &DecodeError{LSN: walStart, MsgType: data[0], Offset: r.off, Err: r.err}
	}
	return msg, nil
}

// Relation returns the relation last announced with the given OID.
func (d *Decoder) Relation(oid uint32) (*capture.Relation, bool) {
	rel, ok := d.relations[oid]
	return rel, ok
}

// decode dispatches on the message type. Errors are recorded in r.
func (d *Decoder) decode(typ byte, r *reader) capture.Message {
	switch typ {
	case 'B':
		return d.decodeBegin(r)
	case 'C':
		return d.decodeCommit(r)
	case 'O': // Origin: the transaction was replicated from elsewhere; nothing to keep.
		r.uint64()
		r.string()
		return nil
	case 'R':
		d.decodeRelation(r)
		return nil
	case 'Y':
		d.decodeType(r)
		return nil
	case 'I', 'U', 'D':
		return d.decodeRowChange(typ, r)
	case 'T':
		return d.decodeTruncate(r)
	case 'M':
		return d.decodeMessage(r)
	case 'S', 'E', 'c', 'A', 'P', 'K', 'r', 'p', 'b':
		r.failf("message type %q needs pgoutput protocol version 2 or later; version 1 was requested", typ)
		return nil
	}
	r.failf("unknown message type %q", typ)
	return nil
}

// pgEpoch is PostgreSQL's timestamp epoch; its timestamps count microseconds from it.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func pgTime(us uint64) time.Time {
	return pgEpoch.Add(time.Duration(int64(us)) * time.Microsecond)
}

func (d *Decoder) decodeBegin(r *reader) capture.Message {
	b := capture.Begin{
		FinalLSN:   capture.LSN(r.uint64()),
		CommitTime: pgTime(r.uint64()),
		XID:        r.uint32(),
	}
	r.end() // before touching the decoder's state
	if r.err != nil {
		return nil
	}
	if d.inTx {
		r.failf("begin of transaction %d inside transaction %d", b.XID, d.begin.XID)
		return nil
	}
	d.inTx, d.begin, d.index = true, b, 0
	return &b
}

func (d *Decoder) decodeCommit(r *reader) capture.Message {
	r.byte1() // flags: unused
	c := capture.Commit{
		FinalLSN:   capture.LSN(r.uint64()),
		EndLSN:     capture.LSN(r.uint64()),
		CommitTime: pgTime(r.uint64()),
	}
	r.end()
	if r.err != nil {
		return nil
	}
	if !d.inTx {
		r.failf("commit at %s without a begin", c.FinalLSN)
		return nil
	}
	if c.FinalLSN != d.begin.FinalLSN {
		r.failf("commit at %s ends transaction %d that began with final LSN %s", c.FinalLSN, d.begin.XID, d.begin.FinalLSN)
		return nil
	}
	c.XID = d.begin.XID
	d.inTx = false
	return &c
}

// decodeRelation reads a Relation message and caches the relation.
func (d *Decoder) decodeRelation(r *reader) {
	rel := &capture.Relation{
		OID:             r.uint32(),
		Schema:          r.string(),
		Table:           r.string(),
		ReplicaIdentity: capture.ReplicaIdentity(r.byte1()),
	}
	n := r.int16()
	if r.err != nil {
		return
	}
	switch rel.ReplicaIdentity {
	case capture.IdentityDefault, capture.IdentityNothing, capture.IdentityFull, capture.IdentityIndex:
	default:
		r.failf("relation %d: unknown replica identity %q", rel.OID, byte(rel.ReplicaIdentity))
		return
	}
	if n < 0 {
		r.failf("relation %d: negative column count %d", rel.OID, n)
		return
	}
	// Each column takes at least 10 bytes: do not trust n before allocating.
	rel.Columns = make([]capture.Column, 0, min(int(n), (len(r.b)-r.off)/10))
	for range n {
		flags := r.byte1()
		col := capture.Column{
			Key:     flags&1 != 0,
			Name:    r.string(),
			TypeOID: r.uint32(),
			TypeMod: int32(r.uint32()),
		}
		if r.err != nil {
			return
		}
		col.TypeName = d.typeName(col.TypeOID)
		rel.Columns = append(rel.Columns, col)
	}
	if r.off != len(r.b) {
		return // reported by end
	}
	if old, ok := d.relations[rel.OID]; ok && sameRelation(old, rel) {
		return
	}
	d.relations[rel.OID] = rel
}

func sameRelation(a, b *capture.Relation) bool {
	return a.OID == b.OID && a.Schema == b.Schema && a.Table == b.Table &&
		a.ReplicaIdentity == b.ReplicaIdentity && slices.Equal(a.Columns, b.Columns)
}

// typeName names a column type: built-in types by their catalog name, others by
// the name a Type message gave them (for a domain, its base type's name), or
// by Config.LookupType; "" when nothing names it, which decodes as text.
func (d *Decoder) typeName(oid uint32) string {
	if name, ok := pgvalue.TypeName(oid); ok {
		return name
	}
	if name, ok := d.types[oid]; ok {
		return name
	}
	if d.cfg.LookupType != nil {
		if name, ok := d.cfg.LookupType(oid); ok {
			return name
		}
	}
	return ""
}

// decodeType reads a Type message. pgoutput sends one for every non-built-in
// column type before the Relation that uses it, naming a domain by its base
// type. The name is kept unqualified: pgvalue decodes by the names of
// pg_catalog's types, and any other name decodes as text.
func (d *Decoder) decodeType(r *reader) {
	oid := r.uint32()
	r.string() // namespace; "" for pg_catalog
	name := r.string()
	r.end()
	if r.err != nil {
		return
	}
	d.types[oid] = name
}

// decodeMessage reads a logical decoding message; a non-transactional one with
// the heartbeat prefix becomes a heartbeat Marker. Its LSN is the end of the
// message's WAL record, which is confirmable once everything before it is.
func (d *Decoder) decodeMessage(r *reader) capture.Message {
	flags := r.byte1()
	lsn := capture.LSN(r.uint64())
	prefix := r.string()
	content := r.take(r.length())
	if r.err != nil {
		return nil
	}
	if flags&1 != 0 || d.cfg.HeartbeatPrefix == "" || prefix != d.cfg.HeartbeatPrefix {
		return nil
	}
	m := &capture.Marker{Kind: capture.MarkerHeartbeat, LSN: lsn}
	if t, err := time.Parse(time.RFC3339Nano, string(content)); err == nil {
		m.Time = t.UTC()
	}
	return m
}

// change starts a Change of the transaction in progress.
func (d *Decoder) change(r *reader, op capture.Op) *capture.Change {
	if !d.inTx {
		r.failf("%s outside a transaction", op)
		return nil
	}
	c := &capture.Change{
		Op:         op,
		FinalLSN:   d.begin.FinalLSN,
		Index:      d.index,
		XID:        d.begin.XID,
		CommitTime: d.begin.CommitTime,
	}
	d.index++
	return c
}

func (d *Decoder) relation(r *reader, oid uint32) *capture.Relation {
	rel, ok := d.relations[oid]
	if !ok && r.err == nil {
		r.failf("relation %d was not announced by a Relation message", oid)
	}
	return rel
}

// decodeRowChange reads an Insert, Update or Delete.
func (d *Decoder) decodeRowChange(typ byte, r *reader) capture.Message {
	oid := r.uint32()
	if r.err != nil {
		return nil
	}
	rel := d.relation(r, oid)
	if rel == nil {
		return nil
	}
	var op capture.Op
	switch typ {
	case 'I':
		op = capture.OpInsert
	case 'U':
		op = capture.OpUpdate
	default:
		op = capture.OpDelete
	}
	c := d.change(r, op)
	if c == nil {
		return nil
	}
	c.Relation = rel

	kind := r.byte1()
	if typ != 'I' && (kind == 'K' || kind == 'O') {
		c.Old = d.tuple(r, rel, nil, kind == 'K')
		if typ == 'U' {
			kind = r.byte1()
		}
	}
	switch {
	case r.err != nil:
		return nil
	case typ == 'D':
		if c.Old == nil {
			r.failf("delete from %s without an old tuple (got %q)", rel.QualifiedName(), kind)
			return nil
		}
	case kind != 'N':
		r.failf("%s on %s: want new tuple 'N', got %q", op, rel.QualifiedName(), kind)
		return nil
	default:
		c.New = d.tuple(r, rel, c.Old, false)
	}
	if r.err != nil {
		return nil
	}
	return c
}

// tuple reads TupleData for rel. keyOnly marks an old tuple of key columns
// ('K'), whose other columns are absent whatever was sent for them. An
// unchanged-TOAST column takes its value from old when old has one.
func (d *Decoder) tuple(r *reader, rel *capture.Relation, old []capture.Value, keyOnly bool) []capture.Value {
	n := r.int16()
	if r.err != nil {
		return nil
	}
	if int(n) != len(rel.Columns) {
		r.failf("tuple of %s has %d columns, its relation %d", rel.QualifiedName(), n, len(rel.Columns))
		return nil
	}
	vals := make([]capture.Value, n)
	start := r.off
	d.spans = d.spans[:0] // the deferred values, their text still in r.b
	for i := range vals {
		col := rel.Columns[i]
		switch kind := r.byte1(); kind {
		case 'n':
			vals[i] = capture.Value{Kind: capture.KindNull}
		case 'u':
			if i < len(old) && old[i].Sent() {
				vals[i] = old[i]
			} else {
				vals[i] = capture.Value{Kind: capture.KindUnchangedTOAST}
			}
		case 't':
			text := r.take(r.length())
			if r.err != nil {
				return nil
			}
			if d.cfg.DeferDecoding {
				if keyOnly && !col.Key {
					continue // absent whatever was sent
				}
				d.spans = append(d.spans, span{index: i, off: r.off - len(text) - start})
				continue
			}
			v, err := pgvalue.Decode(col, text)
			if err != nil {
				r.failf("%s: %w", rel.QualifiedName(), err)
				return nil
			}
			vals[i] = v
		case 'b':
			r.failf("column %q of %s is in binary format, which is not supported: request text format", col.Name, rel.QualifiedName())
			return nil
		default:
			if r.err == nil {
				r.failf("column %q of %s: unknown tuple data kind %q", col.Name, rel.QualifiedName(), kind)
			}
			return nil
		}
		if keyOnly && !col.Key {
			vals[i] = capture.Value{}
		}
	}
	if len(d.spans) > 0 {
		// One copy of the tuple's bytes holds the text of all its deferred
		// values (data is not retained); they point into it: three
		// allocations per tuple rather than one or two per column.
		t := &tupleText{rel: rel, buf: slices.Clone(r.b[start:r.off])}
		encs := make([]encoded, len(d.spans))
		for j, sp := range d.spans {
			encs[j] = encoded{t: t, off: uint32(sp.off), col: uint32(sp.index)}
			vals[sp.index] = capture.Value{Kind: capture.KindEncoded, Data: &encs[j]}
		}
	}
	return vals
}

// span locates a deferred value's text in the tuple being read.
type span struct {
	index int // the column's position
	off   int // the text's offset from the tuple's start
}

// tupleText is the copy of a tuple's bytes that its deferred values share.
type tupleText struct {
	rel *capture.Relation // relations are immutable
	buf []byte
}

// encoded is a deferred column value: its text as PostgreSQL sent it, which
// pgvalue.Decode decodes when it is read. It is 16 bytes: a tuple of
// narrow rows costs about what its decoded values would.
type encoded struct {
	t *tupleText
	// off is the text's offset in t.buf; its length is the four bytes
	// before it, as the wire framed it.
	off uint32
	col uint32 // the column's index in t.rel.Columns
}

// text returns the value's text.
func (e *encoded) text() []byte {
	n := binary.BigEndian.Uint32(e.t.buf[e.off-4 : e.off])
	return e.t.buf[e.off : e.off+n : e.off+n]
}

// Decode implements capture.Encoded.
func (e *encoded) Decode() (capture.Value, error) {
	return pgvalue.Decode(e.t.rel.Columns[e.col], e.text())
}

// Len implements capture.Encoded.
func (e *encoded) Len() int { return len(e.text()) }

// String implements capture.Encoded.
func (e *encoded) String() string { return string(e.text()) }

// decodeTruncate reads a Truncate of one or more relations.
func (d *Decoder) decodeTruncate(r *reader) capture.Message {
	n := r.uint32()
	flags := r.byte1()
	if r.err != nil {
		return nil
	}
	if n == 0 || uint64(n)*4 != uint64(len(r.b)-r.off) {
		r.failf("truncate of %d relations in %d bytes", n, len(r.b)-r.off)
		return nil
	}
	rels := make([]*capture.Relation, n)
	for i := range rels {
		if rels[i] = d.relation(r, r.uint32()); rels[i] == nil {
			return nil
		}
	}
	c := d.change(r, capture.OpTruncate)
	if c == nil {
		return nil
	}
	c.Relation = rels[0]
	c.Truncated = rels
	c.Cascade = flags&1 != 0
	c.RestartIdentity = flags&2 != 0
	return c
}

// String returns the message type's name, for errors.
func msgName(typ byte) string {
	switch typ {
	case 'B':
		return "Begin"
	case 'C':
		return "Commit"
	case 'O':
		return "Origin"
	case 'R':
		return "Relation"
	case 'Y':
		return "Type"
	case 'I':
		return "Insert"
	case 'U':
		return "Update"
	case 'D':
		return "Delete"
	case 'T':
		return "Truncate"
	case 'M':
		return "Message"
	}
	return fmt.Sprintf("%q", typ)
}
