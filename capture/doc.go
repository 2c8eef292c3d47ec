// Package capture defines what the capture stage hands on: the messages (Begin,
// Change, Commit, Marker, Connected) decoded from a PostgreSQL logical
// replication stream, their typed column values, and WAL positions (LSN).
//
// The package is plain data and depends only on the standard library. Its
// subpackages do the work: capture/pgoutput decodes pgoutput messages into these
// types, capture/replication owns the replication connection, slot and
// publication, and capture/snapshot reads the initial consistent snapshot.
//
// Capture must never import pipeline, sinks, Kafka or Redis clients, nor draw
// on a terminal (progress goes to callbacks). Only capture/replication imports
// backpressure, for its one backoff mechanism. Only capture's subpackages may
// import pgconn, pgx or pglogrepl.
//
// Concurrency: the types here are values; a *Relation and a Value are immutable
// once handed on and may be shared between goroutines. A KindEncoded Value (a
// column whose decoding capture deferred) decodes on each call to
// Value.Decoded, from any goroutine, to the value eager decoding gives.
//
// Metrics: none here; see the subpackages.
package capture
