// Package snapshot reads the initial consistent snapshot of captured tables:
// every row as of a slot's exported snapshot, handed on as capture.OpRead
// changes between a snapshot-begin and a snapshot-end marker.
//
// A Snapshotter opens its own normal (not replication) connection, starts a
// REPEATABLE READ READ ONLY transaction and imports the exported snapshot with
// SET TRANSACTION SNAPSHOT before anything else, so it sees exactly the rows
// committed before the slot's consistent point; streaming from the slot then
// continues without a gap or a duplicate. Tables are read in bounded chunks:
// by keyset pagination over the primary key (or the replica-identity index),
// or by ctid page ranges where a table has no such key. Values are fetched in
// text format and decoded with capture/pgvalue, as the stream decodes them,
// under the same pinned session settings (DateStyle=ISO, IntervalStyle=postgres,
// extra_float_digits=3, TimeZone=UTC, bytea_output=hex, lc_monetary=C).
//
// The package must never import pipeline, sinks, backpressure or Kafka and
// Redis clients (see package capture), and draws nothing: it reports progress
// as plain Progress values to Config.Progress (cmd draws them through
// internal/progress).
//
// Concurrency: a Snapshotter may run several snapshots one after the other or
// at the same time; each Run owns its connection and starts no goroutine. Run
// blocks while the handler blocks (backpressure): the transaction simply waits,
// which is why the session turns idle_in_transaction_session_timeout and
// statement_timeout off.
//
// Metrics (see NewMetrics):
//
//	cdcflow_capture_snapshot_rows_total{table}      counter: rows read and handed on
//	cdcflow_capture_snapshot_rows_estimated{table}  gauge: rows the table is expected to hold (pg_class.reltuples)
//	cdcflow_capture_snapshot_tables_remaining       gauge: tables of the running snapshots not yet fully read
//	cdcflow_capture_snapshot_rows_remaining         gauge: rows the running snapshots are estimated to have left
//	cdcflow_capture_snapshot_last_progress_timestamp_seconds gauge: when a snapshot last handed on rows or began/finished a table
package snapshot
