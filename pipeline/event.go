package pipeline

import (
	"encoding/json"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// Event is one versioned domain event (or control record) produced by the
// mapping from row changes.
type Event struct {
	ID            string // hash of Source and Position (snapshot rows: of source, epoch, table, key)
	Source        string // capture.Source.URI()
	Type          string // e.g. "OrderRequested"; control records: see ControlType
	Version       int    // schema version of Type
	AggregateType string // the topic's aggregate, e.g. "order"
	AggregateID   string // record key
	Position      Position
	LSN           capture.LSN // commit LSN of the source transaction
	// EndLSN is, on a record read back from Kafka, the commit end LSN of
	// the record's source transaction when the record carries the
	// HeaderEndLSN header (the last record of its transaction in its
	// partition; docs/events.md); 0 otherwise. It is not part of the
	// CloudEvent, and encoding ignores it (Record.EndLSN asks for it).
	EndLSN capture.LSN
	XID    uint32
	Time   time.Time // commit time
	Epoch  uint64    // snapshot epoch for state events and snapshot markers
	Data   json.RawMessage
	// Control is non-zero for control records (snapshot begin/end, truncate),
	// which go to every partition of their aggregate's topic.
	Control ControlKind
	// DeadLetter is true for a dead-letter record: Data is a DeadLetter as JSON,
	// Type is DeadLetterType, and the record goes to the mapping's dead-letter
	// topic rather than an aggregate's.
	DeadLetter bool
}

// ControlKind says which control record an Event is.
type ControlKind uint8

// The control record kinds.
const (
	NotControl ControlKind = iota
	ControlSnapshotBegin
	ControlSnapshotEnd
	ControlTruncate
	// ControlProgress is a progress record (NewProgress): no source
	// change, only the position up to which everything is published.
	ControlProgress
)

// Record is an encoded event ready for a sink: what is written to Kafka.
type Record struct {
	Topic string
	// Type is the CloudEvents type of the encoded event (its Event.Type),
	// never empty: a domain event's type such as "OrderRequested",
	// DeadLetterType for dead letters, and SnapshotBeginType,
	// SnapshotEndType or TruncateType for control records. Sinks use it to
	// count records by type without decoding them; it is not written to
	// Kafka apart from the envelope's own type attribute.
	Type    string
	Key     []byte
	Value   []byte
	Headers []Header
	// AllPartitions is true for control records: the sink writes one copy to
	// every partition of Topic (only to those in Partitions when it is not
	// nil).
	AllPartitions bool
	// Partitions, when not nil, restricts an AllPartitions record to these
	// partitions of Topic (progress records go only to idle partitions).
	Partitions []int32
	// DeadLetter is true for dead-letter records.
	DeadLetter bool
	// EndLSN is the commit end LSN of the record's source transaction when
	// the flow knew it as it handed the record on (the transaction's
	// commit came in the same chunk); 0 otherwise. A sink writes it, in the
	// HeaderEndLSN header, on the last record of each partition of a batch
	// that has one, so that a reader of the partition learns the end of a
	// transaction from its own last record (docs/events.md).
	EndLSN capture.LSN
}

// HeaderEndLSN is the record header that carries, as 16 hexadecimal
// digits (%016X), the commit end LSN of the record's source transaction on
// a record after which its partition holds no more records of that
// transaction, nor of any transaction that committed before it: every
// source transaction whose commit ends at or before that LSN is in the
// partition up to this record. DecodeRecord reads it into Event.EndLSN.
const HeaderEndLSN = "cdcflow-end-lsn"

// AppendEndLSN appends the HeaderEndLSN value of lsn to dst.
func AppendEndLSN(dst []byte, lsn capture.LSN) []byte {
	const digits = "0123456789ABCDEF"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[(uint64(lsn)>>uint(i))&0xF])
	}
	return dst
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}
