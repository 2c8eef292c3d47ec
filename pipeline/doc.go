// Package pipeline turns captured row changes into versioned domain events: the
// event model and its CloudEvents envelope, positions and identities, the
// declarative mapping (CEL rules compiled once into a Mapper), JSON Schemas per
// event version, upcasters, routing to one topic per aggregate type and the
// dead-letter path.
//
// The package is pure: no network or file I/O at run time, no goroutines, no
// clocks, no loggers and no metrics. It imports capture only for its types and
// must never import sinks, backpressure or any client library.
//
// Concurrency: a compiled Mapper keeps per-transaction state and is used by one
// goroutine at a time; compiled mappings and schemas are read-only and may be
// shared.
//
// Metrics: none (the caller counts what comes out).
package pipeline
