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
// values are refused (the replication connection requests text).
//
// Concurrency: a Decoder is not safe for concurrent use; it belongs to the one
// goroutine that reads the replication connection. The *capture.Relation values
// it hands out are never modified afterwards and may be shared.
//
// pgoutput imports capture, capture/pgvalue and the standard library; it must
// never import pipeline, sinks, backpressure or any network client.
package pgoutput
