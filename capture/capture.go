package capture

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LSN is a PostgreSQL write-ahead log position.
type LSN uint64

// String formats the LSN the way PostgreSQL prints it, e.g. "16/B374D848".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// ParseLSN parses an LSN in PostgreSQL's "XXX/XXX" form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("parse LSN %q: want two hexadecimal halves separated by '/'", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// Op is the kind of a row change.
type Op uint8

// The row operations. OpRead is a row read by the initial snapshot.
const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
	OpTruncate
	OpRead
)

// String returns the lower-case name of the operation ("insert", "read", ...).
func (o Op) String() string {
	switch o {
	case OpInsert:
		return "insert"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpTruncate:
		return "truncate"
	case OpRead:
		return "read"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Kind says which of the four states a column value is in.
type Kind uint8

// The value states. The zero Kind is KindAbsent, so a zero Value means "not sent".
const (
	// KindAbsent: the column was not sent at all, e.g. a DELETE's non-key
	// columns under the default replica identity.
	KindAbsent Kind = iota
	// KindNull: the column is SQL NULL.
	KindNull
	// KindUnchangedTOAST: an UPDATE left a TOASTed value unchanged and
	// PostgreSQL did not send it (and it could not be taken from an old tuple).
	// It is never NULL.
	KindUnchangedTOAST
	// KindValue: Value.Data holds the decoded value.
	KindValue
	// KindEncoded: Value.Data holds an Encoded, the value as PostgreSQL sent
	// it, not decoded yet. Capture hands such values on only when asked to
	// defer decoding (replication.Config.DeferDecoding); Value.Decoded turns
	// one into the KindValue value it stands for.
	KindEncoded
)

// Encoded is the Data of a KindEncoded Value: a column value as PostgreSQL
// sent it, decoded only when something reads it, so a value that nothing
// reads costs no decoding. It is immutable, and its methods are safe for
// concurrent use.
type Encoded interface {
	// Decode decodes the value. Each call decodes again and returns a
	// Value of KindValue that owns its memory, equal to what eager decoding
	// would have handed on; or an error when the text does not decode.
	Decode() (Value, error)
	// Len is the length of the encoded text in bytes.
	Len() int
	// String returns the text as PostgreSQL sent it.
	String() string
}

// Decoded returns the decoded form of v: for a KindEncoded value, what its
// Encoded decodes to; any other value unchanged.
func (v Value) Decoded() (Value, error) {
	if v.Kind != KindEncoded {
		return v, nil
	}
	e, ok := v.Data.(Encoded)
	if !ok {
		return Value{}, fmt.Errorf("encoded value holds %T, not a capture.Encoded", v.Data)
	}
	return e.Decode()
}

// Sent reports whether the value was sent: a value, encoded or decoded, or
// NULL.
func (v Value) Sent() bool {
	return v.Kind == KindValue || v.Kind == KindNull || v.Kind == KindEncoded
}

// Value is one column value. When Kind is KindValue, Data holds the typed Go value
// for the column's PostgreSQL type:
//
//	smallint, integer, bigint       int64
//	numeric, money                  Numeric (exact decimal text; "NaN", "Infinity", "-Infinity")
//	real, double precision          float64
//	boolean                         bool
//	text, varchar, char, enum,
//	  uuid, unknown types           string
//	date                            string, ISO "2006-01-02"; "infinity", "-infinity" and
//	                                years outside 1-9999 as PostgreSQL prints them
//	timestamp (no zone)             LocalTime (wall clock, zone not known to capture)
//	timestamptz                     time.Time in UTC
//	  (±infinity or years outside 1-9999 for both: string as PostgreSQL prints it)
//	time, timetz, interval          string in ISO 8601 ("15:04:05.999999", "P1DT2H")
//	json, jsonb                     json.RawMessage (as PostgreSQL printed it)
//	bytea                           []byte
//	arrays                          []any of the element's Go type, nil for NULL elements,
//	                                nested []any for multi-dimensional arrays
//
// When Kind is KindEncoded, Data holds an Encoded instead, which decodes to
// the KindValue value above (Value.Decoded).
//
// Values are immutable once handed on: consumers must not modify Data.
type Value struct {
	Kind Kind
	Data any
}

// Numeric is an exact decimal as text, e.g. "1234.5600", "-0.5", "NaN", "Infinity".
// It is never parsed into a float by capture.
type Numeric string

// LocalTime is a timestamp without time zone: its wall-clock fields are the value
// PostgreSQL stored, and its location is always UTC. Only a consumer that knows the
// source's configured time zone can turn it into an instant.
type LocalTime struct{ time.Time }

// ReplicaIdentity is a table's REPLICA IDENTITY setting as pgoutput reports it.
type ReplicaIdentity byte

// The replica identity settings.
const (
	IdentityDefault ReplicaIdentity = 'd' // primary key
	IdentityNothing ReplicaIdentity = 'n'
	IdentityFull    ReplicaIdentity = 'f'
	IdentityIndex   ReplicaIdentity = 'i'
)

// Column describes one column of a Relation.
type Column struct {
	Name    string // unquoted, exactly as in the catalog (may be mixed case)
	TypeOID uint32
	// TypeName is the type's name: "int4", "numeric", "_text" for text[]; for an
	// enum or other user type its own name; for a domain, the name of its base
	// type (pgoutput announces domains that way, and the snapshot matches it).
	TypeName string
	TypeMod  int32
	// Key is true when the column is part of the replica identity (the primary
	// key under the default identity).
	Key bool
}

// Relation describes a table as of a point in the stream. A Relation is immutable:
// when the table's shape changes, capture hands on a new *Relation.
type Relation struct {
	OID             uint32
	Schema, Table   string // unquoted, exactly as in the catalog
	ReplicaIdentity ReplicaIdentity
	Columns         []Column
}

// QualifiedName returns the table's name quoted for SQL, e.g. "public"."Order Lines".
func (r *Relation) QualifiedName() string {
	return QuoteIdent(r.Schema) + "." + QuoteIdent(r.Table)
}

// ColumnIndex returns the index of the named column, or -1.
func (r *Relation) ColumnIndex(name string) int {
	for i, c := range r.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// QuoteIdent quotes a PostgreSQL identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Message is what capture hands on, in WAL order: Connected once per replication
// session, then for each transaction a Begin, its Changes (delivered in bounded
// chunks, never a whole transaction at once) and a Commit; Markers between
// transactions. The concrete types are *Connected, *Begin, *Change, *Commit and *Marker.
type Message interface{ message() }

// Source identifies the database a stream comes from (from IDENTIFY_SYSTEM).
type Source struct {
	SystemID string // the cluster's system identifier, decimal
	Timeline int32
	Database string
}

// URI returns the CloudEvents source of the database:
// postgres://<system_identifier>/<database>?tl=<timeline>.
func (s Source) URI() string {
	return fmt.Sprintf("postgres://%s/%s?tl=%d", s.SystemID, s.Database, s.Timeline)
}

// Connected starts every replication session: it says which source the following
// messages come from and from where the stream resumes. A session that resumed a
// failover slot on a promoted standby hands on another one, between two
// transactions, where the stream reaches the first position written on a newer
// timeline: its Source names that timeline and StartLSN is the switch point
// (docs/capture.md, "Database failover").
type Connected struct {
	Source Source
	// StartLSN is the position streaming resumes from (the slot's confirmed_flush_lsn
	// or its consistent point when it was just created).
	StartLSN LSN
	// NewSource is true when the system identifier or timeline differs from the one
	// recorded with the slot: a restore, point-in-time recovery or promoted standby.
	NewSource bool
}

// Begin starts a transaction.
type Begin struct {
	FinalLSN   LSN // the commit LSN of the transaction, known at BEGIN
	XID        uint32
	CommitTime time.Time
}

// Change is one row change (or a snapshot row, or a TRUNCATE).
type Change struct {
	Op Op
	// FinalLSN is the transaction's commit LSN; for snapshot rows, the slot's
	// consistent point - 1.
	FinalLSN LSN
	// Index is the change's position inside its transaction, from 0; for snapshot
	// rows, a counter running over the whole snapshot epoch.
	Index      uint32
	XID        uint32
	CommitTime time.Time // for snapshot rows: when the snapshot was taken
	// Relation is the changed table. For OpTruncate it is the first truncated table.
	Relation *Relation
	// Truncated lists every table of an OpTruncate, with its flags.
	Truncated       []*Relation
	Cascade         bool
	RestartIdentity bool
	// Old is the old tuple of an UPDATE or DELETE as the replica identity provides
	// it (key columns only, or all under REPLICA IDENTITY FULL); nil when PostgreSQL
	// sent none, e.g. an UPDATE that did not change the key under the default identity.
	Old []Value
	// New is the new tuple of an INSERT, UPDATE or snapshot read, aligned with
	// Relation.Columns.
	New []Value
	// Epoch is the snapshot epoch of an OpRead change; 0 otherwise.
	Epoch uint64
}

// Key returns the replica-identity key values of the row after the change (for a
// DELETE, of the deleted row), aligned with the key columns of Relation.
func (c *Change) Key() []Value {
	src := c.New
	if c.Op == OpDelete {
		src = c.Old
	}
	if c.Relation == nil || src == nil {
		return nil
	}
	var key []Value
	for i, col := range c.Relation.Columns {
		if col.Key && i < len(src) {
			key = append(key, src[i])
		}
	}
	return key
}

// Commit ends a transaction.
type Commit struct {
	FinalLSN   LSN // the commit record's LSN (same as Begin.FinalLSN)
	EndLSN     LSN // the end of the commit record: the position that may be confirmed
	XID        uint32
	CommitTime time.Time
}

// MarkerKind says what a Marker marks.
type MarkerKind uint8

// The marker kinds.
const (
	// MarkerSnapshotBegin starts snapshot epoch Epoch of Tables. A new epoch's
	// begin supersedes any earlier epoch that never reached its end.
	MarkerSnapshotBegin MarkerKind = iota + 1
	// MarkerSnapshotEnd ends snapshot epoch Epoch: every row of Tables was read.
	MarkerSnapshotEnd
	// MarkerHeartbeat is a heartbeat logical message that came through the slot:
	// LSN may be confirmed once everything before it is durable.
	MarkerHeartbeat
	// MarkerProgress says how far decoding has reached: every transaction
	// whose commit ends at or before LSN has been handed on before it (the
	// server's WAL end in a keepalive, Time its send time). It is not
	// confirmable (Confirmable skips it) and is handed on only when asked
	// for (replication.Config.ProgressMarkers).
	MarkerProgress
)

// String returns the marker kind's name.
func (k MarkerKind) String() string {
	switch k {
	case MarkerSnapshotBegin:
		return "snapshot_begin"
	case MarkerSnapshotEnd:
		return "snapshot_end"
	case MarkerHeartbeat:
		return "heartbeat"
	case MarkerProgress:
		return "progress"
	}
	return "marker(" + strconv.Itoa(int(k)) + ")"
}

// Marker is a control point in the stream between transactions.
type Marker struct {
	Kind  MarkerKind
	Epoch uint64 // snapshot markers
	// LSN: for snapshot markers the consistent point - 1 (the snapshot rows'
	// FinalLSN); for heartbeats, the confirmable end of the heartbeat message;
	// for progress markers, the position decoding has reached.
	LSN LSN
	// Time: for heartbeats, the source server's clock when the message was
	// written (zero for a snapshot epoch's slot marker, which has none);
	// for progress markers, the keepalive's send time, which is not a
	// commit time (a transaction past LSN may have committed before it).
	Time   time.Time
	Tables []*Relation // snapshot markers: the tables of the epoch
}

func (*Connected) message() {}
func (*Begin) message()     {}
func (*Change) message()    {}
func (*Commit) message()    {}
func (*Marker) message()    {}

// Handler receives capture's messages in WAL order, one bounded chunk at a time.
// It may block (backpressure); capture keeps its replication connection alive
// meanwhile. A returned error stops capture. The handler must not retain msgs
// beyond the call, but may retain the messages themselves.
type Handler func(ctx context.Context, msgs []Message) error
