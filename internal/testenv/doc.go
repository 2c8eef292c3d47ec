// Package testenv is the test harness: it gives tests real servers (a
// private PostgreSQL 15 with logical WAL, a private redis-server, the kfake
// Kafka-protocol broker in process or as a "cdcflow broker" subprocess), a
// fresh database, key prefix or data directory per test, seeded randomness
// and a deadline-bound wait for conditions. It is built on
// internal/services.
//
// Shared servers (Postgres, Redis) are started lazily, once per test binary,
// and stopped by Main, which a package using them must call from its
// TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Tests isolate themselves on a shared server with NewDatabase or Prefix.
// A test that stops, kills or reconfigures a server takes a dedicated one
// (NewPostgres, NewRedis, Kafka, BrokerProcess), stopped in t.Cleanup.
//
// When a server program is missing, the test is skipped with a message
// naming the Debian package to install; under CI=true it fails instead, so
// a CI run can never pass by skipping. The harness never uses the servers
// that may run on the standard ports.
//
// Only test code imports this package; it must never be imported by the
// product's packages.
//
// Concurrency: every function may be called from parallel tests. Functions
// taking a testing.TB report failure with t.Fatal, so they must run on the
// test's own goroutine.
//
// Metrics: none.
package testenv
