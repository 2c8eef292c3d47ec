// Package query serves the Redis views over HTTP: a read-only JSON API under
// /v1/ (views, entities, index pages with cursors, aggregate groups,
// histories, pipeline health), Server-Sent Events for a view's changes and
// for the event stream, and whatever handler is mounted at / (the
// dashboard). Every answer says how fresh it is (the applied source position
// and commit time of each partition it read), and a reader that has just
// committed in PostgreSQL can ask for an answer that includes its write
// (read-your-writes: min_lsn and wait).
//
// It reads Redis only through sinks/redisview and never writes: every Redis
// key it names is built by redisview from a view of the definitions file and
// a validated id, key or group, so no request can reach another key. It
// imports nothing of capture, Kafka or PostgreSQL, and not the configuration
// (cmd turns the query section into a Config).
//
// Concurrency: a Server is safe for concurrent use. Serve owns its
// goroutines (the HTTP server's, one watcher of the change streams that
// wakes read-your-writes waits, and one batcher that sends concurrent entity
// reads to Redis as one pipeline) and stops them when its context ends.
//
// Metrics (namespace cdcflow_query):
//
//	cdcflow_query_requests_total{route,code}              requests answered, by route pattern and status code
//	cdcflow_query_request_duration_seconds{route}         histogram of the time to answer (SSE: to the first event)
//	cdcflow_query_read_your_writes_wait_seconds           histogram of read-your-writes waits (answered or timed out)
//	cdcflow_query_read_your_writes_timeouts_total         read-your-writes waits that ended in 504
//	cdcflow_query_sse_clients                             SSE connections open now
//	cdcflow_query_redis_batch_size                        histogram of the entity reads sent to Redis in one pipeline
package query
