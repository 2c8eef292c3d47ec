// Command delivery benchmarks cdcflow end to end — WAL to mapped events
// acknowledged by the broker — against PostgreSQL's own pg_recvlogical on
// the same WAL, and measures commit-to-ack latency under a steady load.
//
// It starts a private PostgreSQL 15 server (internal/services), creates the
// reference order database (internal/loadgen) with a publication for the
// tables the reference mapping reads, creates one pgoutput slot, and then
// writes the reference workload once until at least -changes captured row
// changes are in the WAL. The end position is the server's WAL position
// after the load.
//
// Throughput. Each run copies the slot (pg_copy_logical_replication_slot)
// once per reader, so every reader reads exactly the same WAL from exactly
// the same start:
//
//   - pg_recvlogical (Debian's, the plugin options cdcflow's Reader sends)
//     with --endpos, writing to /dev/null: the baseline;
//   - cdcflow run on its embedded broker in four modes: at-least-once and
//     exactly-once (kafka.delivery), each with SyncWrites on and off: the
//     real binary (built once with go
//     build from ./cmd/cdcflow) as a child process configured by CDCFLOW_*
//     variables with deploy/examples/orders/mapping.yaml, snapshot never, on
//     the copied slot and a fresh data directory. cdcflow confirms a position
//     to PostgreSQL only once Kafka has acknowledged every event up to it,
//     so the run is over when the slot's confirmed_flush_lsn (polled from
//     pg_replication_slots) reaches the end position; the benchmark then
//     reads /metrics (changes captured, events published, CPU seconds),
//     samples the peak resident set from /proc and stops the child with
//     SIGINT. The benchmark fails unless every cdcflow run captured the
//     changes the workload wrote and all runs published the same number of
//     events (exactly-once runs: not counting the position records), at
//     least one per ten changes. Exactly-once runs also report the Kafka
//     transactions they committed.
//
// Each reader is timed from process start. The runs alternate the readers'
// order; the table reports the median of -runs runs.
//
// Latency. For each of the four modes, on a new slot created at the current
// WAL position, cdcflow run streams while the load generator (in this
// process) writes at a fixed rate for -latency-duration: -latency-fraction of
// the sustainable rate, the lower of what the mode's delivery sustained with
// SyncWrites on and what the load generator wrote flat out. p50 and p99 come from cdcflow's own
// cdcflow_kafka_commit_to_ack_seconds histogram (PostgreSQL commit time to
// broker acknowledgement), interpolated linearly within its buckets.
//
// Usage:
//
//	go run ./internal/bench/delivery [-changes 100000] [-runs 3] [-cpuprofile cpu.out] [-latency-duration 20s] [-env CDCFLOW_KAFKA_COMPRESSION=lz4] [-keep]
//
// -cpuprofile passes --cpuprofile to the last at-least-once SyncWrites-on run; -env adds
// configuration to every cdcflow run (a variable given twice: the last wins).
//
// It must not be imported; it imports the test services, the load generator
// and capture's LSN type only, and runs cdcflow as a separate binary.
package main
