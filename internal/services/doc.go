// Package services starts real servers on this machine for development and
// tests: a private PostgreSQL 15 with logical WAL, a private redis-server, and
// the in-process kfake Kafka-protocol broker with on-disk persistence.
//
// Each server listens on 127.0.0.1 on a port of its own (a free one unless
// the caller names one), keeps its files in a directory the caller gives, and
// can be stopped, killed with SIGKILL and restarted on the same directory and
// port, so fault tests can check what survives a crash. It never touches a
// server already running on a standard port. The quickstart, "cdcflow broker"
// and the test harness internal/testenv are built on it.
//
// PostgreSQL and Redis run as child processes of the calling process, each in
// a process group of its own: Kill takes down the whole group (the postmaster
// and every backend), so no orphan survives into the next test. On Linux the
// children also receive a signal when the calling process dies.
//
// It must never import the product's packages (capture, pipeline, sinks,
// backpressure, cmd): it is infrastructure for them, not part of them. It does
// not import package testing; internal/testenv adapts it to tests.
//
// Concurrency: the methods of *Postgres, *Redis and *Kafka are safe for
// concurrent use. Start functions block until the server accepts connections
// or the context ends. A child process is owned by the value that started it;
// one goroutine per running child waits for it to exit.
//
// Metrics: none.
package services
