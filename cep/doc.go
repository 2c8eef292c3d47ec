// Package cep is cdcflow's complex-event-processing engine: temporal rules
// over domain events (absence, sequence, count and sum in a window) that
// derive new, versioned events with deterministic ids.
//
// The package is pure, like pipeline: no network, no Kafka, no Redis, no
// goroutines, no loggers and no clocks. Time comes from the events (their
// source commit time) and from progress records; the only wall-clock
// reading, for the evaluation-time hook, goes through Hooks.Now, which the
// caller injects. It imports pipeline (the event model, the CEL function
// library, the mapping's schemas) and internal/strictyaml, and must never
// import sinks, cmd or any client library (internal/archtest enforces it).
//
// The parts:
//
//   - ParseRules decodes and compiles a rule file (YAML, CEL); Rules.Check
//     validates it against the mapping's event schemas.
//   - An Engine merges the input partitions by position, keeps the
//     event-time watermark, matches the rules and hands derived events to
//     the caller; Snapshot and Restore save and load its whole state.
//
// Concurrency: compiled Rules are read-only and may be shared; an Engine
// is used by one goroutine at a time.
//
// Metrics: none are registered here (no Prometheus import in a pure
// package). Engine.Stats returns per-rule gauges and counters (open
// matches, timers, matches, derived events, dropped inputs) and Hooks
// receives timer lag and evaluation time, for the caller to export as
// cdcflow_cep_* metrics (see docs/cep.md).
package cep
