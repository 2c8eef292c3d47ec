package config

import (
	"errors"
	"time"

	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
)

// SourceConfig says which PostgreSQL database to capture.
type SourceConfig struct {
	// DSN is the connection string of the source database (keyword/value or URL).
	// It may hold a password: it is a secret and never printed.
	DSN string `yaml:"dsn" secret:"true"`
	// Timezone is the IANA zone in which the source's timestamp-without-time-zone
	// values are read, e.g. "Europe/Berlin". Default "UTC".
	Timezone string `yaml:"timezone"`
	// FailoverSlot makes the slot a PostgreSQL 17 failover slot (created or
	// altered with failover = true) so that a standby with
	// sync_replication_slots keeps it, and lets a promoted standby's synced
	// slot resume without a new snapshot (docs/capture.md, "Database
	// failover"). Refused on PostgreSQL before 17. Default false.
	FailoverSlot bool `yaml:"failover_slot"`
	// StandbyDSN, optional, connects to the physical standby that would be
	// promoted: `cdcflow status` then shows its slot synchronization
	// settings and its copy of the slot. It may hold a password: it is a
	// secret and never printed.
	StandbyDSN string `yaml:"standby_dsn" secret:"true"`
}

// CaptureConfig configures logical replication capture (docs/capture.md).
type CaptureConfig struct {
	// Slot is the replication slot name (a-z, 0-9, _). Default "cdcflow".
	Slot string `yaml:"slot"`
	// Publication is the publication name. An existing publication is used as
	// it is; a missing one is created for Tables. Default "cdcflow".
	Publication string `yaml:"publication"`
	// Tables lists the captured tables as schema.table (quote mixed-case names
	// the SQL way: public."OrderLines"); a bare name means schema public.
	Tables []string `yaml:"tables"`
	// Snapshot is what a new slot starts with: initial (default: a consistent
	// snapshot of the tables, then the stream), never (the stream only) or
	// initial_only (the snapshot, then stop; no slot is kept).
	Snapshot string `yaml:"snapshot"`
	// TemporarySlot makes the slot temporary: dropped by PostgreSQL when the
	// connection closes, so every start (and reconnect) begins anew. For
	// debugging. Default false.
	TemporarySlot bool `yaml:"temporary_slot"`
	// DropLostSlot drops and re-creates (with a new snapshot) a slot that
	// PostgreSQL invalidated (wal_status = lost). Default false: stop and say
	// what to do.
	DropLostSlot bool `yaml:"drop_lost_slot"`
	// HeartbeatInterval is how often a heartbeat logical message is written so
	// the slot advances while only unpublished tables change. Default 10s;
	// negative disables.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// StatusInterval is the longest time between standby status updates
	// (capped at a third of the server's wal_sender_timeout). Default 10s.
	StatusInterval time.Duration `yaml:"status_interval"`
	// ChunkMessages bounds the messages handed on at once. Default 1024.
	ChunkMessages int `yaml:"chunk_messages"`
	// ChunkBytes bounds a chunk by wire size, in bytes. Default 4194304 (4 MiB).
	ChunkBytes int `yaml:"chunk_bytes"`
	// SlotCreateTimeout bounds slot creation, which waits for the transactions
	// running at that moment; the error names the sessions it waited for.
	// Default 5m.
	SlotCreateTimeout time.Duration `yaml:"slot_create_timeout"`
	// SnapshotChunkRows is the page size of the snapshot's keyset reads, in
	// rows. Default 10000.
	SnapshotChunkRows int `yaml:"snapshot_chunk_rows"`
	// DeferDecoding makes cdcflow run hand streamed column values on
	// undecoded, so that the mapping decodes only the columns its rules
	// read (docs/capture.md, "Deferred decoding"); the events are the same.
	// Default false: every column is decoded on capture's goroutine, in
	// parallel with the mapping, which measured faster on the reference and
	// the wide workloads (docs/benchmarks.md, "Deferred decoding: the
	// default").
	DeferDecoding bool `yaml:"defer_decoding"`
	// Lease configures the capture lease: active and standby instances (lease.go).
	Lease LeaseConfig `yaml:"lease"`
}

// setDefaults takes the Reader's own defaults (replication.Config,
// snapshot.Config), so that they are written once and printed as they are.
func (c *CaptureConfig) setDefaults() {
	d := c.replication().WithDefaults()
	c.Slot, c.Publication, c.Snapshot = d.Slot, d.Publication, string(d.SnapshotMode)
	c.HeartbeatInterval, c.StatusInterval = d.HeartbeatInterval, d.StatusInterval
	c.ChunkMessages, c.ChunkBytes, c.SlotCreateTimeout = d.ChunkMessages, d.ChunkBytes, d.SlotCreateTimeout
	orDefault(&c.SnapshotChunkRows, snapshot.DefaultChunkRows)
}

func (c *CaptureConfig) validate() error {
	var errs []error
	switch replication.SnapshotMode(c.Snapshot) {
	case replication.SnapshotInitial, replication.SnapshotNever, replication.SnapshotInitialOnly:
	default:
		errs = append(errs, invalidKey("snapshot", "%q is not one of initial, never, initial_only", c.Snapshot))
	}
	for i, t := range c.Tables {
		if _, err := replication.ParseTableName(t); err != nil {
			errs = append(errs, invalidKey("tables", "entry %d: %v", i+1, err))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"status_interval", c.StatusInterval}, {"slot_create_timeout", c.SlotCreateTimeout}} {
		if d.v < 0 {
			errs = append(errs, invalidKey(d.key, "%s must not be negative", d.v))
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"chunk_messages", c.ChunkMessages}, {"chunk_bytes", c.ChunkBytes}, {"snapshot_chunk_rows", c.SnapshotChunkRows}} {
		if n.v < 0 {
			errs = append(errs, invalidKey(n.key, "%d must not be negative", n.v))
		}
	}
	if err := (replication.Config{DSN: "x", Slot: c.Slot, Tables: []string{"x"}}).Validate(); err != nil {
		errs = append(errs, invalidKey("slot", "%v", err))
	}
	return errors.Join(errs...)
}

// ReplicationConfig is the capture Reader's configuration for cfg.
func (cfg *Config) ReplicationConfig() replication.Config {
	rc := cfg.Capture.replication()
	rc.DSN = cfg.Source.DSN
	rc.FailoverSlot = cfg.Source.FailoverSlot
	rc.WALSenderTimeout = cfg.Capture.Lease.WALSenderTimeout
	return rc
}

// replication is the Reader's configuration the capture section describes,
// without the source's DSN.
func (c *CaptureConfig) replication() replication.Config {
	return replication.Config{
		Slot:              c.Slot,
		Publication:       c.Publication,
		Tables:            c.Tables,
		SnapshotMode:      replication.SnapshotMode(c.Snapshot),
		Temporary:         c.TemporarySlot,
		DropLostSlot:      c.DropLostSlot,
		HeartbeatInterval: c.HeartbeatInterval,
		StatusInterval:    c.StatusInterval,
		ChunkMessages:     c.ChunkMessages,
		ChunkBytes:        c.ChunkBytes,
		SlotCreateTimeout: c.SlotCreateTimeout,
		Snapshot:          snapshot.Config{ChunkRows: c.SnapshotChunkRows},
	}
}
