package pgoutput

import (
	"github.com/cdcflow/cdcflow/capture"
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
	// Empty means no message is a heartbeat.
	HeartbeatPrefix string
}

// Decoder turns pgoutput messages into capture messages. It remembers the
// relations and types announced so far and the transaction in progress. Create
// one per replication session with NewDecoder: pgoutput announces every
// relation again in a new session.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg Config
}

// NewDecoder returns a Decoder with an empty relation cache.
func NewDecoder(cfg Config) *Decoder {
	return &Decoder{cfg: cfg}
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
// Every error is a *DecodeError. After an error the decoder's state is
// unspecified: the caller must drop the session and start a new Decoder.
func (d *Decoder) Decode(walStart capture.LSN, data []byte) (capture.Message, error) {
	panic("not implemented")
}

// Relation returns the relation last announced with the given OID.
func (d *Decoder) Relation(oid uint32) (*capture.Relation, bool) {
	panic("not implemented")
}
