// Package status gathers where every stage of a cdcflow pipeline stands —
// PostgreSQL's current WAL, the slot's confirmed position, what Kafka holds
// per topic, what each view applied per partition — with the slot's health,
// snapshot and replay progress and dead letters, judges every line against
// internal/thresholds (the values the alert rules are generated from), and
// renders it as one screen or as JSON (`cdcflow status`).
//
// It works whether or not a pipeline runs: it reads PostgreSQL, Kafka and
// Redis directly, and adds the live process's figures (lag in seconds,
// heartbeat age, last acknowledgement, staleness, snapshot progress) when its
// metrics address answers, by parsing its /metrics.
//
// It reads and never writes: it creates no slot, topic, group or key. It
// never imports cmd, flow or internal/config: cmd turns the configuration
// into a Config. Gather blocks on the services it reads and starts no
// goroutine that outlives it.
package status
