// Package pgoutput decodes the messages of PostgreSQL's pgoutput logical
// decoding plugin (protocol version 1) into capture's messages: Begin, Change,
// Commit and heartbeat Markers.
//
// A Decoder is the pure half of streaming: it is fed the payload of every
// XLogData message in WAL order and keeps only what the protocol requires it to
// remember, the relations and type names the server announced and the current
// transaction. It does no I/O, starts no goroutines and exports no metrics.
//
// The parser is its own, bounds-checked at every read, instead of pglogrepl's,
// which trusts lengths from the wire: no input, however malformed or truncated,
// makes it panic or read past the payload; such input returns a *DecodeError.
// Column values in text format are decoded by capture/pgvalue; binary-format
// values are refused (the replication connection requests text). With
// Config.DeferDecoding the decoder leaves each column value as a
// capture.KindEncoded value holding its text (one copy of the tuple's bytes
// per tuple), decoded by the same pgvalue.Decode when and if a consumer reads
// it: under REPLICA IDENTITY FULL, for instance, an old row that no mapping
// rule reads is never decoded.
//
// What the protocol leaves to the decoder:
//   - A Relation message that changes a table's shape (ALTER TABLE) yields a new
//     *capture.Relation; an identical one keeps the cached pointer.
//   - An old tuple of key columns ('K') marks its other columns KindAbsent.
//   - An unchanged TOAST value ('u') in a new tuple takes the old tuple's value
//     when there is one: under REPLICA IDENTITY FULL pgoutput sends the marker
//     even though the old tuple holds the value. Otherwise it stays
//     KindUnchangedTOAST, never NULL.
//   - Under REPLICA IDENTITY FULL pgoutput flags every column as part of the
//     identity, so Column.Key is true for all of them: the stream does not say
//     which columns form the primary key.
//   - A heartbeat Marker's LSN is the LSN pgoutput reports for the logical
//     message, which is the end of its WAL record: the value
//     pg_logical_emit_message returned (checked against a real server).
//   - A Truncate becomes one Change: Relation is the first table, Truncated all
//     of them, with the CASCADE and RESTART IDENTITY flags.
//
// Concurrency: a Decoder is not safe for concurrent use; it belongs to the one
// goroutine that reads the replication connection. The *capture.Relation values
// it hands out are never modified afterwards and may be shared.
//
// pgoutput imports capture, capture/pgvalue and the standard library; it must
// never import pipeline, sinks, backpressure or any network client. (Its
// integration test, which records real WAL, uses pglogrepl and the harness.)
package pgoutput
