package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
)

// SnapshotMode says whether a new slot starts with a consistent snapshot of
// the existing rows.
type SnapshotMode string

// The snapshot modes. The mode applies when the Reader creates a slot; an
// existing slot is resumed as it is.
const (
	// SnapshotInitial snapshots the tables when the slot is created, then
	// streams. It is the default.
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotNever creates the slot without a snapshot and only streams the
	// changes made after its creation.
	SnapshotNever SnapshotMode = "never"
	// SnapshotInitialOnly takes a consistent snapshot through a temporary slot
	// and stops: Run returns nil once the snapshot is handed on. No slot is
	// left behind.
	SnapshotInitialOnly SnapshotMode = "initial_only"
)

// Config configures a Reader. A zero field means its default.
type Config struct {
	// DSN is the connection string of the captured database (keyword/value or
	// URL form), without replication=...: the Reader opens its replication
	// connection by adding replication=database. Required.
	DSN string
	// Slot is the logical replication slot's name. Default "cdcflow".
	Slot string
	// Publication is the publication's name. If it exists it is used as it is
	// (it must publish every configured table, via the partition root, with
	// truncates); otherwise the Reader creates it for Tables. Default "cdcflow".
	Publication string
	// Tables lists the captured tables SQL-style: schema.table, with
	// mixed-case or special names double-quoted (public."Order Lines"); a
	// name without schema means public. Required.
	Tables []string
	// SnapshotMode is initial (default), never or initial_only.
	SnapshotMode SnapshotMode
	// Temporary makes the slot TEMPORARY: PostgreSQL drops it when the
	// replication connection closes, so each session (and each reconnect)
	// starts a new slot, with a new snapshot epoch under SnapshotInitial.
	// For debugging (cdcflow tail --temporary).
	Temporary bool
	// DropLostSlot lets the Reader drop a slot that PostgreSQL invalidated
	// (wal_status = 'lost', e.g. by max_slot_wal_keep_size) and create it
	// again, with a new snapshot under SnapshotInitial. Default false: Run
	// stops with ErrSlotLost and says what to do.
	DropLostSlot bool
	// SnapshotDone, when set, is asked when the slot's stream holds the
	// marker of a snapshot epoch that this process did not hand on, which
	// means the slot's confirmed position went back before the epoch's end:
	// PostgreSQL before 17 does not write a logical slot's confirmed position
	// at a shutdown checkpoint unless the slot is dirty, and a crash loses
	// it on every version. It reports whether the whole epoch (src, epoch)
	// is durable downstream; if so, the Reader streams on from the marker
	// (what follows it is sent again, for the consumer to recognise)
	// instead of dropping the slot and snapshotting again. It runs on the
	// Reader's goroutine and must not block. nil: snapshot again.
	SnapshotDone func(src capture.Source, epoch uint64) bool
	// FailoverSlot makes the slot a PostgreSQL 17 failover slot: it is set
	// with failover = true (ALTER_REPLICATION_SLOT ... (FAILOVER true)), so
	// that standbys with sync_replication_slots keep a copy of it, and a
	// session refuses a server older than 17 (ErrFailoverUnsupported) and a
	// synchronized_standby_slots that lists the logical slot itself. After
	// a promotion, a synced slot resumes as the same source when this
	// process verified the old primary's synchronized_standby_slots (see
	// docs/capture.md, "Database failover"). Not with Temporary or
	// SnapshotInitialOnly. Default false.
	FailoverSlot bool
	// Published, when set, is asked at the first session after a promotion
	// of a failover slot's server, when this process did not verify the old
	// primary itself (it started after the failover): it returns the source
	// URI and commit LSN of the last change known durable downstream, ok
	// false when unknown. When that position lies in the promoted server's
	// history, nothing published can be missing there, and the slot resumes
	// as the same source. It runs on the Reader's goroutine and must not
	// block. nil: unknown.
	Published func() (source string, lsn capture.LSN, ok bool)
	// HeartbeatInterval is how often a heartbeat logical message is emitted
	// through the slot's database, so that the slot can advance while only
	// unpublished tables are written. Default 10s; negative disables.
	HeartbeatInterval time.Duration
	// ProgressMarkers hands on a capture.MarkerProgress, between
	// transactions, each time a keepalive from the server says decoding has
	// reached a position past the last one handed on (WAL that carries no
	// change: other tables, other databases, running-transaction records,
	// checkpoints). Default false.
	ProgressMarkers bool
	// DeferDecoding hands on the column values of streamed changes as
	// capture.KindEncoded values that their reader decodes
	// (capture.Value.Decoded), so that columns nothing reads cost no
	// decoding (pgoutput.Config.DeferDecoding). Snapshot rows are decoded
	// as before. Default false: every value is decoded on the Reader's
	// goroutine, and a value that does not decode stops the Reader.
	DeferDecoding bool
	// MessagePrefix prefixes the logical messages the Reader emits:
	// "<prefix>.heartbeat" and "<prefix>.slot". Default "cdcflow".
	MessagePrefix string
	// StatusInterval is the longest time between two standby status updates.
	// It is capped at a third of the server's wal_sender_timeout. Default 10s.
	StatusInterval time.Duration
	// ChunkMessages is the most messages handed to the handler in one call.
	// Default 1024.
	ChunkMessages int
	// ChunkBytes bounds one chunk by the wire size of its messages; the chunk
	// that crosses it is handed on. Default 4 MiB.
	ChunkBytes int
	// ChunkLinger is how long a chunk that is not full may wait for more
	// messages while the handler is busy. Default 20ms.
	ChunkLinger time.Duration
	// SlotCreateTimeout bounds slot creation, which waits for every
	// transaction running at that moment to end. Default 5m.
	SlotCreateTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff (with
	// jitter) between replication sessions. Defaults 500ms and 30s.
	ReconnectMin, ReconnectMax time.Duration
	// ApplicationName is the application_name of the Reader's connections.
	// Default "cdcflow".
	ApplicationName string
	// WALSenderTimeout is the replication session's wal_sender_timeout
	// (set per connection at startup): the server ends the walsender of a
	// Reader that sent no status update for this long, e.g. a frozen
	// process, which frees the slot. Status updates are sent at least every
	// third of it. Default 10s; negative keeps the server's setting.
	//
	// The replication session sets no tcp_user_timeout: while the handler
	// applies backpressure the Reader stops reading, the server's send
	// window stays closed, and Linux counts its zero-window probes against
	// tcp_user_timeout, which would end a healthy paused session.
	// wal_sender_timeout covers a peer that froze or vanished instead.
	WALSenderTimeout time.Duration
	// Snapshot configures the initial snapshot.
	Snapshot snapshot.Config
}

func (c *Config) setDefaults() {
	if c.Slot == "" {
		c.Slot = "cdcflow"
	}
	if c.Publication == "" {
		c.Publication = "cdcflow"
	}
	if c.SnapshotMode == "" {
		c.SnapshotMode = SnapshotInitial
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.MessagePrefix == "" {
		c.MessagePrefix = "cdcflow"
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.ChunkMessages == 0 {
		c.ChunkMessages = 1024
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 4 << 20
	}
	if c.ChunkLinger == 0 {
		c.ChunkLinger = 20 * time.Millisecond
	}
	if c.SlotCreateTimeout == 0 {
		c.SlotCreateTimeout = 5 * time.Minute
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = 500 * time.Millisecond
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 30 * time.Second
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "cdcflow"
	}
	if c.WALSenderTimeout == 0 {
		c.WALSenderTimeout = 10 * time.Second
	}
}

// WithDefaults returns c with each zero field set to its default (those
// documented on the fields), so that a caller can show or keep the values
// the Reader will use without repeating them.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// Validate reports the first problem with c, with defaults applied.
func (c Config) Validate() error {
	c.setDefaults()
	if c.DSN == "" {
		return errors.New("source DSN is required")
	}
	if !validSlotName(c.Slot) {
		return fmt.Errorf("slot name %q: want 1-63 characters of a-z, 0-9 and _", c.Slot)
	}
	if len(c.Tables) == 0 {
		return errors.New("no tables to capture: list at least one")
	}
	for _, t := range c.Tables {
		if _, err := ParseTableName(t); err != nil {
			return err
		}
	}
	switch c.SnapshotMode {
	case SnapshotInitial, SnapshotNever, SnapshotInitialOnly:
	default:
		return fmt.Errorf("snapshot mode %q: want initial, never or initial_only", c.SnapshotMode)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"status interval", c.StatusInterval},
		{"chunk linger", c.ChunkLinger},
		{"slot create timeout", c.SlotCreateTimeout},
		{"reconnect min", c.ReconnectMin},
		{"reconnect max", c.ReconnectMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s %s: must not be negative", d.name, d.v)
		}
	}
	if c.FailoverSlot && (c.Temporary || c.SnapshotMode == SnapshotInitialOnly) {
		return errors.New("a failover slot must be persistent: not with a temporary slot or snapshot mode initial_only")
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("reconnect max %s is below reconnect min %s", c.ReconnectMax, c.ReconnectMin)
	}
	if c.ChunkMessages < 0 || c.ChunkBytes < 0 {
		return errors.New("chunk messages and chunk bytes must not be negative")
	}
	return c.Snapshot.Validate()
}

// validSlotName reports whether s is a name PostgreSQL accepts for a slot.
func validSlotName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
