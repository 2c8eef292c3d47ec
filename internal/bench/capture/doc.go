// Command capture benchmarks cdcflow's capture and decode against
// PostgreSQL's own pg_recvlogical on the same WAL.
//
// It starts a private PostgreSQL 15 server (internal/services), creates the
// reference order database (internal/loadgen) with a publication for every
// table but the uncaptured audit log, creates one pgoutput slot, and then
// writes the reference workload once with the load generator until at least
// -changes captured row changes are in the WAL. The end position is the
// server's WAL position after the load.
//
// Each run copies the slot (pg_copy_logical_replication_slot) once per
// reader, so every reader decodes exactly the same WAL from exactly the same
// start, and drains its copy to the end position:
//
//   - pg_recvlogical (Debian's, pgoutput, proto_version 1, the publication,
//     messages on: the plugin options cdcflow's Reader sends) with --endpos,
//     writing to /dev/null;
//   - cdcflow (Reader): this program run again as a child process (-drain),
//     which runs capture/replication's Reader (snapshot mode never, on the
//     copied slot, heartbeats off) with a handler that counts the changes,
//     confirms the last commit once per -confirm-interval and stops at the
//     first transaction committed at or after the end position; the run fails
//     unless it saw exactly the changes the load generator wrote;
//   - cdcflow decode only: the same child with -bare, a single goroutine that
//     receives as the Reader does (pgconn, a 64 KiB read buffer, no context
//     per receive) and decodes with capture/pgoutput, to tell the cost of
//     decoding from the cost of the Reader's loop.
//
// Each is timed as a whole process, start to exit, with its CPU time. The
// runs alternate the readers' order; the table reports the median of -runs
// runs: rows per second, the ratio to pg_recvlogical, CPU seconds and peak
// RSS (VmHWM: reported by the cdcflow child itself, sampled from /proc for
// pg_recvlogical). -cpuprofile writes a CPU profile of the last Reader run.
//
// Usage:
//
//	go run ./internal/bench/capture [-changes 100000] [-runs 3] [-cpuprofile cpu.out] [-confirm-interval 1s] [-keep] [-hold] [-gomaxprocs1]
//
// -gomaxprocs1 adds a row: the Reader child again, with GOMAXPROCS=1, which
// shows how much of its CPU time goes to the Go scheduler moving work
// between two processors (docs/benchmarks.md, capture).
//
// -hold writes the workload, prints the server's DSN, the source slot and the
// end position, and waits for an interrupt instead of running the readers:
// copies of the slot can then be drained by hand (-drain) under perf or strace.
//
// It must not be imported; it imports the product's capture packages, the
// test services and the load generator only.
package main
