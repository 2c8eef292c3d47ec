// Package replication captures a PostgreSQL database's row changes through a
// logical replication slot: it checks that the server is ready (Preflight),
// creates or uses the publication, creates or resumes the pgoutput slot,
// orchestrates the initial consistent snapshot (capture/snapshot), streams
// and decodes the WAL (capture/pgoutput) and reports the consumer's confirmed
// position back to PostgreSQL. With Config.FailoverSlot it keeps the slot a
// PostgreSQL 17 failover slot and resumes it on a promoted standby
// (failover.go: reading and judging the setup, also for `cdcflow status`;
// promotion.go: whether a slot resumes across a promotion, and the source
// it names). Its Lease (a PostgreSQL advisory lock named after the slot)
// elects the one instance of a slot that streams while the others stand by
// (docs/deployment.md, "HA capture"). docs/capture.md describes the design.
//
// It must never import pipeline, sinks or any Kafka or Redis client: it hands
// capture.Messages to a capture.Handler and learns what is durable through
// Reader.Confirm. It imports backpressure only for Backoff, the project's one
// backoff mechanism, between replication sessions.
//
// Concurrency: Reader.Run owns the replication connection and runs for the
// Reader's life; inside it one goroutine owns the connection (the streaming
// loop in stream.go, which only sequences its parts: receive and handle,
// chunk and linger in chunk.go, standby status updates in standby.go), one
// calls the handler (dispatch.go), one emits heartbeats on a connection of
// its own. All stop before Run returns. Confirm and Confirmed
// are safe for concurrent use. Preflight is a plain function. Lease.Run
// owns the lease session; the Reader uses it between sessions (fence)
// under the lease's lock.
//
// Metrics (NewMetrics):
//
//	cdcflow_capture_slot_lag_bytes                 gauge    current WAL position - slot confirmed_flush_lsn
//	cdcflow_capture_slot_lag_seconds               gauge    age of the oldest unconfirmed heartbeat
//	cdcflow_capture_slot_retained_wal_bytes        gauge    current WAL position - slot restart_lsn
//	cdcflow_capture_slot_safe_wal_size_bytes       gauge    WAL writable before the slot is lost (-1 unlimited)
//	cdcflow_capture_received_lsn                   gauge    WAL start of the last message received
//	cdcflow_capture_confirmed_lsn                  gauge    position last reported as flushed
//	cdcflow_capture_changes_total{table,op}        counter  row changes received
//	cdcflow_capture_reconnects_total               counter  sessions restarted after an error
//	cdcflow_capture_retrying_since_timestamp_seconds gauge  when the sessions began to fail; 0 while one is up
//	cdcflow_capture_handler_blocked_seconds_total  counter  time WAL reading was paused by a busy handler
//	cdcflow_capture_heartbeats_total               counter  heartbeat messages emitted
//	cdcflow_capture_slot_wal_status{wal_status}    gauge    1 for the slot's wal_status (reserved, extended, unreserved, lost), 0 for the others
//	cdcflow_capture_slot_active                    gauge    1 when the slot is active (this or another process)
//	cdcflow_capture_last_heartbeat_timestamp_seconds gauge  emission time of the newest heartbeat the slot confirmed
//
// Lease metrics (NewLeaseMetrics):
//
//	cdcflow_capture_active                         gauge    1 while this instance holds the capture lease, 0 while it stands by
//	cdcflow_capture_active_since_seconds           gauge    when it took the lease (Unix time); 0 while it stands by
//	cdcflow_capture_takeovers_total                counter  times it took the lease from another instance
//
// Snapshot progress metrics are capture/snapshot's (Reader.WithSnapshotMetrics).
package replication
