// Command query benchmarks the query API (cdcflow serve).
//
// Entity reads. It starts a private redis-server (internal/services),
// writes -orders orders into the reference views (the order entity view of
// deploy/examples/orders/views.yaml, through redisview's own atomic apply,
// over -partitions partitions), starts the real binary (built once with go
// build from ./cmd/cdcflow) as `cdcflow serve` on them, and then:
//
//   - a load generator in this process reads GET /v1/views/order/entities/<id>
//     over -conns keep-alive connections (one goroutine each, ids in turn,
//     a minimal HTTP/1.1 client as wrk has, after one answer checked with
//     net/http) for -duration and reports requests per second, p50 and p99 latency,
//     its own CPU time (getrusage of this process) and the server's
//     (/proc/<pid>/stat) per request;
//   - with -compare-batching (the default), a second `cdcflow serve` with
//     query.read_batch=1 (every entity read its own Redis round trip, as
//     before read batching) beside the default one, loaded in turn for
//     -rounds rounds of -duration each (AB, BA, AB...: both see the same
//     machine), each with its requests per second, p50 and p99, and its
//     server's and Redis's CPU per request (INFO cpu), and the ratios of
//     the two (batching / no batching);
//   - redis-benchmark -c <conns> -P 1 HGETALL <one entity's key> for the same
//     number of requests, the floor of what any HTTP front of Redis can do.
//
// Read-your-writes. With -ryw-duration > 0, it starts a private PostgreSQL
// server with the reference order database and `cdcflow run` with the views
// in the same process (views.enabled, the embedded broker, the query API),
// runs the reference load at -ryw-rate transactions per second, and in a
// second connection repeats: insert an order, read pg_current_wal_lsn(),
// then (a) GET the order with min_lsn and wait (the read-your-writes
// answer: its latency is what read-your-writes adds after the commit) and
// (b) on the next insert, poll the entity without min_lsn every
// millisecond until it is there (the commit-to-view latency). It reports
// p50 and p99 of both.
//
// The figures belong in docs/benchmarks.md; measure on a quiet machine.
package main
