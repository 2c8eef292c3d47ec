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
// reader, so both readers decode exactly the same WAL from exactly the same
// start, and drains its copy to the end position:
//
//   - pg_recvlogical (Debian's, pgoutput, proto_version 1, the publication,
//     messages on: the plugin options cdcflow's Reader sends) with --endpos,
//     writing to /dev/null;
//   - cdcflow: this program run again as a child process (-drain), which
//     runs capture/replication's Reader (snapshot mode never, on the copied
//     slot) with a handler that counts the changes, confirms each commit and
//     stops at the first transaction committed at or after the end position.
//
// Both are timed as whole processes, start to exit. The runs alternate which
// reader goes first; the table reports the median of -runs runs, rows per
// second of each, their ratio and the peak RSS (getrusage ru_maxrss) of each
// process. -cpuprofile writes a CPU profile of the last cdcflow run.
//
// Usage:
//
//	go run ./internal/bench/capture [-changes 100000] [-runs 3] [-cpuprofile cpu.out]
//
// It must not be imported; it imports the product's capture packages, the
// test services and the load generator only.
package main
